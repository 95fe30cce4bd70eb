"""The live transcript and call metrics, as the relay hears them from the Realtime API.

Callee turns come from `conversation.item.input_audio_transcription.completed`, timed by the VAD events of the same
item (`audio_start_ms`/`audio_end_ms` count the audio we appended, which starts with the stream: the call clock).
Bot turns come from `response.output_audio_transcript.done`, timed by where their audio was queued at Twilio.
Metrics: first words (Twilio's `start` -> the first bot audio sent to Twilio), response latency (callee stops speaking
-> first bot audio sent), barge-ins, and the token usage of every `response.done`, summed.
"""
from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass, field
from typing import Any

from .events import CallMetrics, TokenUsage, TranscriptTurn


class Transcript:
    """Turns in call-clock order, plus the VAD times needed to place the callee's. A turn with no words (noise
    transcribed as nothing, a response that said nothing) is not a turn: it is left out."""

    def __init__(self) -> None:
        self.turns: list[TranscriptTurn] = []
        self._speech: dict[str, list[int]] = {}

    def speech_started(self, item_id: str, audio_start_ms: int) -> None:
        self._speech[item_id] = [audio_start_ms, audio_start_ms]

    def speech_stopped(self, item_id: str, audio_end_ms: int) -> None:
        self._speech.setdefault(item_id, [audio_end_ms, audio_end_ms])[1] = audio_end_ms

    def callee_said(self, item_id: str, text: str, fallback_ms: int) -> TranscriptTurn | None:
        start, end = self._speech.pop(item_id, (fallback_ms, fallback_ms))
        return self._add(TranscriptTurn("callee", text.strip(), start, end, item_id))

    def bot_said(self, item_id: str, text: str, start_ms: float, end_ms: float) -> TranscriptTurn | None:
        return self._add(TranscriptTurn("bot", text.strip(), int(start_ms), int(end_ms), item_id))

    def _add(self, turn: TranscriptTurn) -> TranscriptTurn | None:
        if not turn.text:
            return None
        self.turns.append(turn)
        self.turns.sort(key=lambda t: t.start_ms)
        return turn


_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")


@dataclass
class Metrics:
    response_latency_ms: list[int] = field(default_factory=list)
    barge_ins: int = 0
    first_words_ms: int | None = None
    responses: int = 0
    usage: dict[str, Any] = field(default_factory=lambda: {key: 0 for key in _USAGE_KEYS})
    _speech_stopped_at: float | None = None

    def callee_stopped(self, now_ms: float) -> None:
        self._speech_stopped_at = now_ms

    def bot_audio_sent(self, now_ms: float) -> None:
        if self.first_words_ms is None:
            self.first_words_ms = int(now_ms)
        if self._speech_stopped_at is not None:
            self.response_latency_ms.append(int(now_ms - self._speech_stopped_at))
            self._speech_stopped_at = None

    def add_usage(self, usage: dict[str, Any]) -> None:
        self.responses += 1
        _add_counts(self.usage, usage)

    def report(self, duration_ms: float) -> CallMetrics:
        latencies = self.response_latency_ms
        return CallMetrics(
            duration_ms=int(duration_ms),
            response_latency_ms=tuple(latencies),
            response_latency_mean_ms=int(statistics.fmean(latencies)) if latencies else None,
            response_latency_max_ms=max(latencies) if latencies else None,
            barge_ins=self.barge_ins,
            first_words_ms=self.first_words_ms,
        )

    def usage_report(self) -> TokenUsage:
        return TokenUsage(responses=self.responses, tokens=copy.deepcopy(self.usage))


def _add_counts(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Sum nested token counts (`input_token_details.audio_tokens`, ...) key by key."""
    for key, value in part.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            _add_counts(total.setdefault(key, {}), value)
