"""Timed, speaker-labelled text: segments from speech-to-text, turns, and the 'Bot: …' conversation text.

A stored turn (Call.transcript, written by turns_merge, and Call.live_transcript, written by the relay) is
`{"speaker", "text", "start_ms", "end_ms"}`; StoredTurn.from_stored is the one reader of both, old shapes included.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# Names the relay, the post-call transcript or other tools use for each side (the call page reads these too).
BOT_NAMES = frozenset({"bot", "assistant", "agent", "ai"})
CLIENT_NAMES = frozenset({"client", "callee", "user", "customer", "human"})
# Where a turn's start and end may be stored, and in what unit: ours first, then older rows' and other tools'.
_START_KEYS = (("start_ms", 1000), ("start", 1), ("at", 1))
_END_KEYS = (("end_ms", 1000), ("end", 1))

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


@dataclass(frozen=True)
class StoredTurn:
    """One stored transcript turn. Older rows and other tools used other keys (role, content, start in seconds)
    or plain strings: they are read here, and a turn that is none of these is skipped."""

    speaker: str  # as stored ("bot", "Client", ...); "" when unknown
    text: str
    start_seconds: float | None = None
    end_seconds: float | None = None

    @classmethod
    def from_stored(cls, value: object) -> StoredTurn | None:
        if isinstance(value, str):
            return cls(speaker="", text=value)
        if not isinstance(value, dict):
            return None
        text = value.get("text") or value.get("content") or value.get("transcript") or ""
        return cls(
            speaker=str(value.get("speaker") or value.get("role") or "").strip(), text=str(text),
            start_seconds=_seconds(value, _START_KEYS), end_seconds=_seconds(value, _END_KEYS),
        )

    @property
    def is_bot(self) -> bool:
        return self.speaker.lower() in BOT_NAMES


def stored_turns(value: object) -> list[StoredTurn]:
    """The readable turns of a stored transcript; anything but a list has none."""
    if not isinstance(value, list):
        return []
    return [turn for turn in map(StoredTurn.from_stored, value) if turn is not None]


def _seconds(turn: dict[str, Any], keys: tuple[tuple[str, int], ...]) -> float | None:
    for key, scale in keys:
        value = turn.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value / scale
    return None


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


def turns_from_live(live: object) -> list[dict[str, Any]]:
    """The live transcript's turns as segments, merged the same way as a transcription's."""
    segments = []
    for turn in stored_turns(live):
        text = turn.text.strip()
        if not text:
            continue
        start = turn.start_seconds or 0.0
        end = turn.end_seconds or start
        speaker = BOT if turn.is_bot else CLIENT  # anything else is the person called
        segments.append(Segment(start=start, end=max(start, end), text=text, speaker=speaker))
    return turns_merge(segments)


def conversation_text(turns: list[dict[str, Any]]) -> str:
    return "\n".join(f"{turn['speaker']}: {turn['text']}" for turn in turns)
