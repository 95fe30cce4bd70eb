"""The bot's audio on its way to the callee: Twilio `media` frames, each followed by a `mark`, and `clear`.

Each chunk is recorded where `Playback` says it will play. A barge-in clears Twilio's queue, cuts the recording
where the callee spoke, and drops whatever the Realtime API still sends of the interrupted item. A Twilio socket
that fails to send is only logged: it is going away, and the consumer's disconnect closes the relay.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from calls.live import media

from .playback import Interruption, Playback
from .recorder import Recorder

SendToTwilio = Callable[[dict[str, Any]], Awaitable[None]]


class BotAudio:
    def __init__(self, *, send_to_twilio: SendToTwilio, recorder: Recorder, log: logging.LoggerAdapter) -> None:
        self._send_to_twilio, self._recorder, self._log = send_to_twilio, recorder, log
        self.stream_sid: str | None = None  # set by Twilio's `start`; nothing is sent before it
        self.playback = Playback()
        self._interrupted_items: set[str] = set()

    @property
    def busy(self) -> bool:
        """Audio sent and not yet confirmed as played."""
        return self.playback.busy

    def confirm(self, mark: str) -> bool:
        """Twilio returned `mark`: returns whether that was our last audio queued (the bot has stopped talking)."""
        return self.playback.confirm(mark) is not None and not self.playback.busy

    async def play(self, *, now_ms: float, item_id: str, response_id: str, audio: bytes) -> bool:
        """Send one chunk and its mark (unless its item was interrupted); returns whether it was sent."""
        if self.stream_sid is None or item_id in self._interrupted_items:
            return False
        segment = self.playback.schedule(now_ms=now_ms, item_id=item_id, response_id=response_id,
                                         audio_bytes=len(audio))
        self._recorder.add_bot(int(segment.start_ms), audio)
        await self._send(media.media_frame(self.stream_sid, audio))
        await self._send(media.mark_frame(self.stream_sid, segment.mark))
        return True

    async def interrupt(self, now_ms: float) -> Interruption | None:
        """The callee spoke at `now_ms`: clear Twilio's queue; returns what was heard, if anything was queued."""
        interruption = self.playback.interrupt(now_ms)
        if interruption is None or self.stream_sid is None:
            return None
        await self._send(media.clear_frame(self.stream_sid))
        self._recorder.cut_bot(int(now_ms))
        self._interrupted_items.add(interruption.item_id)
        return interruption

    async def _send(self, frame: dict[str, Any]) -> None:
        try:
            await self._send_to_twilio(frame)
        except Exception as exc:
            self._log.warning("could not send %s to Twilio: %s", frame.get("event"), type(exc).__name__)
