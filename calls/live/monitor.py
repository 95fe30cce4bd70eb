"""The live call's events and, while someone listens in, its audio, published to the staff following it
(`calls.services.monitoring`), off the audio path.

The consumer hands every relay event to `MonitorFeed.publish`, which only puts it on a bounded queue; one task of
its own sends them to the call's Channels group. A slow or broken channel layer (Redis down, say) costs the call
nothing: the queue fills, later events are dropped (and counted), and the watchers catch up from the database on
their next re-read. Nothing is sent for a call nobody watches but one group message per event (a few a second at
most: transcript turns, barge-ins, tool calls).

Audio goes out only while someone listens: each listener's socket says so to the call's control group every
LISTEN_KEEPALIVE_S (`listen.keepalive`); the feed, subscribed to that group, taps the recorder until the last word
is LISTEN_EXPIRES_S old. The tap gets both voices where the recording puts them (the callee's by Twilio's
timestamps, the bot's where Twilio played it, known when its mark comes back: a fraction of a second after it was
heard), sent to the listen group in pieces of about LISTEN_BATCH_MS, on a queue and a task of their own.
"""
import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer

from calls.live.relay import Recorder, events
from calls.models import CallEvent
from calls.services.monitoring import (
    HANG_UP_TYPE, LISTEN_KEEPALIVE_TYPE, LISTEN_MESSAGE_TYPE, MONITOR_MESSAGE_TYPE, WHISPER_TYPE, MonitorGroups,
)
from calls.services.streaming import TIMELINE_KINDS, timeline_detail

logger = logging.getLogger(__name__)

MONITOR_QUEUE_MAX = 256  # events waiting for the layer; past this they are dropped
MONITOR_SEND_TIMEOUT_S = 2.0  # one group_send; a layer slower than this is given up on for that event
LISTEN_EXPIRES_S = 12.0  # audio stops this long after the last listener's last keep-alive
LISTEN_BATCH_MS = 100  # callee audio is sent in pieces this long (5 of Twilio's frames)
LISTEN_QUEUE_MAX = 50  # audio pieces waiting for the layer (5 s or more); past this they are dropped


def monitor_message(event: events.RelayEvent) -> dict[str, Any] | None:
    """What a watcher's page is told of one relay event; None for the ones it does not show (metrics, usage)."""
    match event:
        case events.TranscriptTurn(speaker=speaker, text=text, start_ms=start_ms, end_ms=end_ms):
            return {"type": "turn", "speaker": speaker, "text": text, "start_ms": start_ms, "end_ms": end_ms}
        case events.StreamEnded(reason=reason, duration_ms=duration_ms):
            return {"type": "stream_ended", "end_reason": reason, "duration_ms": duration_ms}
        case _ if type(event) in TIMELINE_KINDS:
            kind = TIMELINE_KINDS[type(event)]
            return {"type": "event", "kind": kind.value, "label": str(CallEvent.Kind(kind).label),
                    "detail": timeline_detail(event)}
    return None


class _GroupSender:
    """Messages to one Channels group, in order, from a bounded queue: put never waits, a full queue drops."""

    def __init__(self, layer: Any, group: str, message_type: str, capacity: int) -> None:
        self.layer, self.group, self.message_type = layer, group, message_type
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(capacity)
        self.dropped = 0
        self.failing = False

    def put(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        """Let `run` return once what is queued was sent (making room for the end if the queue is full)."""
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                    self.dropped += 1

    async def run(self, call_sid: str) -> None:
        while (message := await self.queue.get()) is not None:
            try:
                async with asyncio.timeout(MONITOR_SEND_TIMEOUT_S):
                    await self.layer.group_send(self.group, {"type": self.message_type, **message})
            except Exception as exc:  # the layer is down or slow: the call goes on
                self.dropped += 1
                if not self.failing:
                    logger.warning("Live page updates failing sid=%s: %s", call_sid, type(exc).__name__)
                self.failing = True


class MonitorFeed:
    """One call's relay events to its watchers' group and, while someone listens, its audio to the listen group;
    never awaited by the caller."""

    def __init__(self, groups: MonitorGroups, *, call_sid: str) -> None:
        self.groups = groups
        self.call_sid = call_sid
        self.layer = get_channel_layer()
        self.events = _GroupSender(self.layer, groups.watch, MONITOR_MESSAGE_TYPE, MONITOR_QUEUE_MAX)
        self.audio = _GroupSender(self.layer, groups.listen, LISTEN_MESSAGE_TYPE, LISTEN_QUEUE_MAX)
        self.recorder: Recorder | None = None
        self.on_whisper: Callable[[str], Awaitable[None]] | None = None  # the relay's, once it runs
        self.on_hang_up: Callable[[], Awaitable[None]] | None = None  # a test call's (calls.live.browser_call)
        self.listen_until = 0.0  # time.monotonic()
        self._pieces: list[tuple[int, bytearray] | None] = [None, None]  # (stream ms, mu-law) per side

    @property
    def dropped(self) -> int:
        return self.events.dropped + self.audio.dropped

    def publish(self, event: events.RelayEvent) -> None:
        message = monitor_message(event)
        if message is not None and self.layer is not None:
            self.events.put({"message": message})

    def attach(self, recorder: Recorder) -> None:
        """The recorder whose audio goes to listeners (tapped only while someone listens)."""
        self.recorder = recorder

    def close(self) -> None:
        self._flush_pieces()
        self.events.close()
        self.audio.close()

    async def run(self) -> None:
        if self.layer is None:
            return
        control = asyncio.create_task(self._control())
        try:
            await asyncio.gather(self.events.run(self.call_sid), self.audio.run(self.call_sid))
        finally:
            control.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await control
            if self.dropped:
                logger.info("Live page updates dropped sid=%s: %d", self.call_sid, self.dropped)

    async def _control(self) -> None:
        """Listeners' keep-alives, staff whispers and hang-ups (of test calls), from whichever process sent them (with a shared layer)."""
        channel = await self.layer.new_channel()
        await self.layer.group_add(self.groups.control, channel)
        try:
            while True:
                message = await self.layer.receive(channel)
                if message.get("type") == LISTEN_KEEPALIVE_TYPE and self.recorder is not None:
                    if self.recorder.listener is None:
                        logger.info("Listening in started sid=%s", self.call_sid)
                    self.listen_until = time.monotonic() + LISTEN_EXPIRES_S
                    self.recorder.listener = self._heard
                elif message.get("type") == WHISPER_TYPE and self.on_whisper is not None:
                    await self.on_whisper(str(message.get("text", "")))
                elif message.get("type") == HANG_UP_TYPE and self.on_hang_up is not None:
                    await self.on_hang_up()
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(MONITOR_SEND_TIMEOUT_S):
                    await self.layer.group_discard(self.groups.control, channel)

    def _heard(self, side: int, at_ms: int, audio: bytes) -> None:
        """The recorder's tap: gather each side's audio into pieces of LISTEN_BATCH_MS for the listeners."""
        if time.monotonic() > self.listen_until:
            self.recorder.listener = None  # nobody said they still listen
            self._flush_pieces()
            logger.info("Listening in ended sid=%s", self.call_sid)
            return
        piece = self._pieces[side]
        if piece is not None and piece[0] + len(piece[1]) // 8 != at_ms:
            self._flush(side)
            piece = None
        if piece is None:
            piece = self._pieces[side] = (at_ms, bytearray())
        piece[1].extend(audio)
        if len(piece[1]) >= LISTEN_BATCH_MS * 8:
            self._flush(side)

    def _flush_pieces(self) -> None:
        for side in (0, 1):
            self._flush(side)

    def _flush(self, side: int) -> None:
        piece, self._pieces[side] = self._pieces[side], None
        if piece is not None and piece[1]:
            self.audio.put({"side": side, "at_ms": piece[0], "audio": bytes(piece[1])})
