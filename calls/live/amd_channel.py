"""Answering-machine detection's verdict, from the web process that got Twilio's callback to the live call.

Twilio POSTs its async AMD result to any web process; the call's media stream lives in a consumer, possibly in
another process. The consumer listens on the Channels layer group `call-amd-<call code>` (joined when its socket
opens, before the call is read, so a verdict that lands meanwhile is either in the call's row or in the group) and
hands each verdict to its relay. Only the consumers of calls placed with AMD listen.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

AMD_MESSAGE = "call.amd"


def live_group_name(call_code: object) -> str:
    return f"call-amd-{call_code}"  # not call-live-: that is the staff watchers' group (monitoring)


def amd_publish(*, call_code: object, call_sid: str, answered_by: str) -> bool:
    """Send the verdict to the call's live consumer; False if the layer refused it (logged). Writes nothing."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(live_group_name(call_code), {"type": AMD_MESSAGE, "answered_by": answered_by})
    except Exception:
        logger.exception("Could not pass the AMD result to the live call sid=%s", call_sid)
        return False
    return True


class AmdListener:
    """The consumer's side: joins the call's group and calls `on_verdict(answered_by)` for each verdict."""

    def __init__(self, call_code: object, on_verdict: Callable[[str], Awaitable[None]]) -> None:
        self.group, self.on_verdict = live_group_name(call_code), on_verdict
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        if self.layer is None:
            return
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            if message.get("type") != AMD_MESSAGE:
                continue
            try:
                await self.on_verdict(str(message.get("answered_by", "")))
            except Exception:
                logger.exception("Could not act on the AMD result %s", self.group)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.channel is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(self.group, self.channel)
