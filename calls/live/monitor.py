"""The live call's events, published to whoever watches it (`calls.services.monitoring`), off the audio path.

The consumer hands every relay event to `MonitorFeed.publish`, which only puts it on a bounded queue; one task of
its own sends them to the call's Channels group. A slow or broken channel layer (Redis down, say) costs the call
nothing: the queue fills, later events are dropped (and counted), and the watchers catch up from the database on
their next re-read. Nothing is sent for a call nobody watches but one group message per event (a few a second at
most: transcript turns, barge-ins, tool calls; never audio).
"""
import asyncio
import contextlib
import logging
from typing import Any

from channels.layers import get_channel_layer

from calls.live.relay import events
from calls.models import CallEvent
from calls.services.monitoring import MONITOR_MESSAGE_TYPE
from calls.services.streaming import TIMELINE_KINDS, timeline_detail

logger = logging.getLogger(__name__)

MONITOR_QUEUE_MAX = 256  # events waiting for the layer; past this they are dropped
MONITOR_SEND_TIMEOUT_S = 2.0  # one group_send; a layer slower than this is given up on for that event


def monitor_message(event: events.RelayEvent) -> dict[str, Any] | None:
    """What a watcher's page is told of one relay event; None for the ones it does not show (metrics, usage)."""
    match event:
        case events.TranscriptTurn(speaker=speaker, text=text, start_ms=start_ms, end_ms=end_ms):
            return {"type": "turn", "speaker": speaker, "text": text, "start_ms": start_ms, "end_ms": end_ms}
        case events.StreamEnded(reason=reason, duration_ms=duration_ms):
            return {"type": "stream_ended", "end_reason": reason, "duration_ms": duration_ms}
        case _ if type(event) in TIMELINE_KINDS:
            kind = TIMELINE_KINDS[type(event)]
            return {"type": "event", "kind": kind.value, "label": CallEvent.Kind(kind).label,
                    "detail": timeline_detail(event)}
    return None


class MonitorFeed:
    """Relay events of one call to its watchers' group, in order, never awaited by the caller."""

    def __init__(self, group: str, *, call_sid: str) -> None:
        self.group = group
        self.call_sid = call_sid
        self.layer = get_channel_layer()
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(MONITOR_QUEUE_MAX)
        self.dropped = 0

    def publish(self, event: events.RelayEvent) -> None:
        message = monitor_message(event)
        if message is None or self.layer is None:
            return
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

    async def run(self) -> None:
        failed = False
        while (message := await self.queue.get()) is not None:
            try:
                async with asyncio.timeout(MONITOR_SEND_TIMEOUT_S):
                    await self.layer.group_send(self.group, {"type": MONITOR_MESSAGE_TYPE, "message": message})
            except Exception as exc:  # the layer is down or slow: the call goes on, watchers re-read the database
                self.dropped += 1
                if not failed:
                    logger.warning("Live page updates failing sid=%s: %s", self.call_sid, type(exc).__name__)
                failed = True
        if self.dropped:
            logger.info("Live page updates dropped sid=%s: %d", self.call_sid, self.dropped)
