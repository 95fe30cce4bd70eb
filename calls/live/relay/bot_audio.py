"""The bot's audio on its way to the callee: Twilio `media` frames, a `mark` after every ~100 ms of them, and `clear`.

One mark per chunk would double the frames to Twilio (and the marks back) when the Realtime API sends 20 ms deltas;
a mark confirms everything sent before it, so one goes after MARK_EVERY_MS of audio, after the last chunk of a run
Twilio plays back to back (before a chunk that starts after a pause), at the end of the bot's audio (`mark_sent`,
on `response.output_audio.done` and `response.done`) and before a `clear`: every chunk is covered by a mark that
comes back, and each mark covers audio Twilio played back to back.

A barge-in clears Twilio's queue and drops whatever the Realtime API still sends of the interrupted item. A Twilio
socket that fails to send is only logged: it is going away, and the consumer's disconnect closes the relay.

The recording gets each chunk where Twilio played it, on the stream's clock: a chunk waits in memory until its mark
comes back, and then ends where the mark arrived (`Recorder.between_frames_ms`, Twilio's clock within half a frame,
however far behind our process runs); chunks Twilio played back to back are placed back to back. After a `clear`
the chunk that was playing is kept up to where its returned mark says it stopped; the rest was never heard. Marks
that never come back (the call ended first) are settled at the end from where they were sent.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from calls.live import media

from .playback import BYTES_PER_MS, Interruption, Playback
from .recorder import Recorder

SendToTwilio = Callable[[dict[str, Any]], Awaitable[None]]
# A chunk whose mark puts its start less than this after the previous chunk's end played right behind it: marks are
# read against 20 ms frames, so two marks of back-to-back chunks can seem a frame further apart than they are.
BACK_TO_BACK_MS = 30
MARK_EVERY_MS = 100


@dataclass
class _Unheard:
    """A chunk sent to Twilio whose mark has not come back yet."""

    mark: str
    audio: bytes
    sent_ms: float  # stream clock at Twilio when it was sent, as far as we know: it cannot have played earlier
    sent_now_ms: float  # call clock when it was sent
    cleared_at_ms: float | None = None  # set by a clear: about where the stream was when it was cleared
    cleared_now_ms: float = 0.0  # call clock when the clear was sent

    def reached_twilio(self, cleared_ms: float) -> float:
        """Where on the stream's clock it reached Twilio, if the clear reached Twilio at `cleared_ms`: what we send
        travels alike and does not queue behind our inbound backlog, so it arrived as long before the clear as it
        was sent before it (in the call's clock)."""
        return cleared_ms - (self.cleared_now_ms - self.sent_now_ms)

    @property
    def duration_ms(self) -> float:
        return len(self.audio) / BYTES_PER_MS


class BotAudio:
    def __init__(self, *, send_to_twilio: SendToTwilio, recorder: Recorder, log: logging.LoggerAdapter) -> None:
        self._send_to_twilio, self._recorder, self._log = send_to_twilio, recorder, log
        self.stream_sid: str | None = None  # set by Twilio's `start`; nothing is sent before it
        self.playback = Playback()
        self._interrupted_items: set[str] = set()
        self._unheard: deque[_Unheard] = deque()
        self._heard_until_ms = 0.0  # stream clock: where the bot audio placed in the recording ends
        self._unmarked: str | None = None  # the mark of the last chunk sent, while it has not been sent
        self._unmarked_ms = 0.0  # audio sent since the last mark

    @property
    def busy(self) -> bool:
        """Audio sent and not yet confirmed as played."""
        return self.playback.busy

    def confirm(self, mark: str, *, stream_ms: float) -> bool:
        """Twilio returned `mark` at `stream_ms` (its clock): record what it played; returns whether that was our
        last audio queued (the bot has stopped talking)."""
        self._heard(mark, stream_ms)
        return self.playback.confirm(mark) is not None and not self.playback.busy

    async def play(self, *, now_ms: float, stream_ms: float, item_id: str, response_id: str, audio: bytes) -> bool:
        """Send one chunk and its mark (unless its item was interrupted); returns whether it was sent."""
        if self.stream_sid is None or item_id in self._interrupted_items:
            return False
        queued_until_ms = self.playback.queued_until_ms
        segment = self.playback.schedule(now_ms=now_ms, item_id=item_id, response_id=response_id,
                                         audio_bytes=len(audio))
        if segment.start_ms >= queued_until_ms + BACK_TO_BACK_MS:
            await self.mark_sent()  # Twilio's queue runs dry before this chunk: the run before it ends there
        self._unheard.append(_Unheard(segment.mark, audio, stream_ms, now_ms))
        self._recorder.bot_hold_ms = self._heard_until_ms
        await self._send(media.media_frame(self.stream_sid, audio))
        self._unmarked, self._unmarked_ms = segment.mark, self._unmarked_ms + segment.duration_ms
        if self._unmarked_ms >= MARK_EVERY_MS:
            await self.mark_sent()
        return True

    async def mark_sent(self) -> None:
        """Send the mark of the last chunk sent, unless it has gone already."""
        if self._unmarked is None or self.stream_sid is None:
            return
        mark, self._unmarked, self._unmarked_ms = self._unmarked, None, 0.0
        await self._send(media.mark_frame(self.stream_sid, mark))

    async def interrupt(self, now_ms: float, *, stream_ms: float) -> Interruption | None:
        """The callee spoke at `now_ms`: clear Twilio's queue; returns what was heard, if anything was queued."""
        interruption = self.playback.interrupt(now_ms)
        if interruption is None or self.stream_sid is None:
            return None
        await self.mark_sent()  # returned at once by the clear, like every mark still pending
        await self._send(media.clear_frame(self.stream_sid))
        for chunk in self._unheard:
            if chunk.cleared_at_ms is None:
                chunk.cleared_at_ms, chunk.cleared_now_ms = stream_ms, now_ms  # refined by the marks returned
        self._interrupted_items.add(interruption.item_id)
        return interruption

    def settle(self) -> None:
        """The call is ending: place what is still waiting for a mark, from where it was sent, up to where it was
        cleared (the recording is cut at the end of the stream anyway)."""
        for chunk in self._unheard:
            if chunk.cleared_at_ms is None:
                self._place(chunk, max(chunk.sent_ms, self._heard_until_ms), math.inf)
            else:
                start = max(chunk.reached_twilio(chunk.cleared_at_ms), self._heard_until_ms)
                self._place(chunk, start, chunk.cleared_at_ms)
        self._unheard.clear()
        self._recorder.bot_hold_ms = None

    def _heard(self, mark: str, stream_ms: float) -> None:
        """Twilio returned `mark` at `stream_ms`: the chunks up to it have played, or were cleared, by then.

        They played back to back, right after the previous chunk, unless that would end them well before the mark
        came back: then Twilio started them on their own after a pause, and they end at the mark. A cleared chunk
        either played whole before the clear reached Twilio (its mark came back on its own, at its end) or was cut
        by the clear (Twilio returns every pending mark when the clear arrives): it started no earlier than its mark
        less its length, nor before it reached Twilio, and nothing of it is heard past its mark. So the chunk that was
        playing is kept up to the clear and the ones behind it not at all.
        """
        if all(chunk.mark != mark for chunk in self._unheard):
            return  # not ours, or already placed
        batch: list[_Unheard] = []
        while not batch or batch[-1].mark != mark:
            batch.append(self._unheard.popleft())
        played = [chunk for chunk in batch if chunk.cleared_at_ms is None]
        total = sum(chunk.duration_ms for chunk in played)
        start = self._heard_until_ms
        if played and stream_ms - total >= start + BACK_TO_BACK_MS:
            start = stream_ms - total
        for chunk in batch:
            until = math.inf  # played whole
            if chunk.cleared_at_ms is not None:
                start = max(start, self._heard_until_ms, stream_ms - chunk.duration_ms, chunk.reached_twilio(stream_ms))
                until = stream_ms
            start = self._place(chunk, start, until)
        self._recorder.bot_hold_ms = self._heard_until_ms if self._unheard else None

    def _place(self, chunk: _Unheard, start: float, until: float) -> float:
        """Record `chunk` from `start`, cut at `until`; returns where it ends."""
        heard_bytes = int(max(0.0, min(until - start, chunk.duration_ms)) * BYTES_PER_MS)
        if heard_bytes:
            self._recorder.add_bot(start, chunk.audio[:heard_bytes])
            self._heard_until_ms = start + heard_bytes / BYTES_PER_MS
        return start + heard_bytes / BYTES_PER_MS

    async def _send(self, frame: dict[str, Any]) -> None:
        try:
            await self._send_to_twilio(frame)
        except Exception as exc:
            self._log.warning("could not send %s to Twilio: %s", frame.get("event"), type(exc).__name__)
