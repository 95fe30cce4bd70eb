"""Timed, speaker-labelled text: segments from speech-to-text, turns, and the 'Bot: …' conversation text."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from calls.review.transcript_turns import BOT_NAMES

Speaker = Literal["Bot", "Client"]
BOT: Speaker = "Bot"
CLIENT: Speaker = "Client"
# Whisper's own rule for a segment that is most likely noise read as words ("Subtítulos por ...").
NO_SPEECH_PROB = 0.6
NO_SPEECH_LOGPROB = -1.0


@dataclass(frozen=True)
class Segment:
    """Text heard between two instants of the call (seconds), with its speaker when known."""

    start: float
    end: float
    text: str
    speaker: Speaker | None = None


def segments_from_transcription(body: dict[str, Any], *, offset: float) -> list[Segment]:
    """Segments of a verbose_json answer, moved `offset` seconds along the call's clock."""
    segments = []
    for raw in body.get("segments") or []:
        text = (raw.get("text") or "").strip()
        if not text or _is_noise(raw):
            continue
        segments.append(Segment(start=offset + float(raw["start"]), end=offset + float(raw["end"]), text=text))
    return segments


def _is_noise(raw: dict[str, Any]) -> bool:
    no_speech, logprob = raw.get("no_speech_prob"), raw.get("avg_logprob")
    return no_speech is not None and logprob is not None and no_speech > NO_SPEECH_PROB and logprob < NO_SPEECH_LOGPROB


def turns_merge(segments: list[Segment]) -> list[dict[str, Any]]:
    """Turns sorted by start; a speaker's consecutive segments (nobody else in between) make one turn."""
    turns: list[dict[str, Any]] = []
    for segment in sorted(segments, key=lambda s: (s.start, s.end)):
        start_ms, end_ms = round(segment.start * 1000), round(segment.end * 1000)
        if turns and turns[-1]["speaker"] == segment.speaker:
            turns[-1]["text"] += " " + segment.text
            turns[-1]["end_ms"] = max(turns[-1]["end_ms"], end_ms)
            continue
        turns.append({"speaker": segment.speaker, "text": segment.text, "start_ms": start_ms, "end_ms": end_ms})
    return turns


def turns_from_live(live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live transcript's turns as segments, merged the same way as a transcription's."""
    segments = []
    for turn in live or []:
        text = str(turn.get("text") or "").strip()
        if not text:
            continue
        start = float(turn.get("start_ms") or 0) / 1000
        end = float(turn.get("end_ms") or turn.get("start_ms") or 0) / 1000
        segments.append(Segment(start=start, end=max(start, end), text=text, speaker=speaker_normalise(turn)))
    return turns_merge(segments)


def speaker_normalise(turn: dict[str, Any]) -> Speaker:
    name = str(turn.get("speaker") or turn.get("role") or "").strip().lower()
    return BOT if name in BOT_NAMES else CLIENT  # anything else is the person called


def conversation_text(turns: list[dict[str, Any]]) -> str:
    return "\n".join(f"{turn['speaker']}: {turn['text']}" for turn in turns)
