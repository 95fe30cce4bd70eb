"""Where the bot's audio is in Twilio's playout queue, on the call clock.

Every chunk of bot audio sent to Twilio is followed by a `mark`; Twilio returns the mark once the chunk has played
(or, after a `clear`, at once). A chunk starts playing when the previous one ends, and never before "now"; it lasts
`len(mu-law bytes) / 8` ms. Marks that come back confirm what was heard; the clock estimates how far into the
chunk in front of the queue the callee is. On barge-in that gives `audio_end_ms` for `conversation.item.truncate`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BYTES_PER_MS = 8


@dataclass(frozen=True)
class Segment:
    """One chunk of bot audio queued at Twilio, followed by mark `mark`."""

    mark: str
    item_id: str
    response_id: str
    start_ms: float  # call clock
    duration_ms: float
    item_offset_ms: float  # how much of the item precedes this chunk

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Interruption:
    item_id: str
    audio_end_ms: int  # of the item, as heard by the callee


class Playback:
    """The queue of bot audio Twilio has not yet confirmed as played."""

    def __init__(self) -> None:
        self._pending: deque[Segment] = deque()
        self._cursor_ms = 0.0  # where the last queued chunk ends
        self._item_sent_ms: dict[str, float] = {}
        self._item_first_ms: dict[str, float] = {}
        self._sequence = 0

    @property
    def busy(self) -> bool:
        """Audio sent and not yet confirmed as played."""
        return bool(self._pending)

    @property
    def queued_until_ms(self) -> float:
        """Call clock: where the audio queued so far ends (Twilio's queue runs dry then, unless more comes)."""
        return self._cursor_ms

    def item_span(self, item_id: str) -> tuple[float, float] | None:
        """Call-clock start and (planned) end of an item's audio."""
        if item_id not in self._item_first_ms:
            return None
        start = self._item_first_ms[item_id]
        return start, start + self._item_sent_ms[item_id]

    def schedule(self, *, now_ms: float, item_id: str, response_id: str, audio_bytes: int) -> Segment:
        """Record a chunk just sent to Twilio; returns it with the mark name to send after it."""
        self._sequence += 1
        offset = self._item_sent_ms.get(item_id, 0.0)
        segment = Segment(
            mark=f"bot-{self._sequence}", item_id=item_id, response_id=response_id,
            start_ms=max(self._cursor_ms, now_ms), duration_ms=audio_bytes / BYTES_PER_MS, item_offset_ms=offset,
        )
        self._item_first_ms.setdefault(item_id, segment.start_ms)
        self._item_sent_ms[item_id] = offset + segment.duration_ms
        self._cursor_ms = segment.end_ms
        self._pending.append(segment)
        return segment

    def confirm(self, mark: str) -> Segment | None:
        """Twilio returned `mark`: it and every chunk before it have played. Unknown marks return None."""
        if all(segment.mark != mark for segment in self._pending):
            return None
        while True:
            segment = self._pending.popleft()
            if segment.mark == mark:
                return segment

    def interrupt(self, now_ms: float) -> Interruption | None:
        """The callee barged in at `now_ms`: drop the queue and say how much of the playing item was heard."""
        if not self._pending:
            return None
        playing = next((s for s in self._pending if s.end_ms > now_ms), self._pending[-1])
        heard = playing.item_offset_ms + min(max(now_ms - playing.start_ms, 0.0), playing.duration_ms)
        self._pending.clear()
        self._cursor_ms = now_ms
        self._item_sent_ms[playing.item_id] = heard
        return Interruption(item_id=playing.item_id, audio_end_ms=int(heard))
