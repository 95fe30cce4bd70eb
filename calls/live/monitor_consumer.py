"""The staff's live sockets on a call: `/ws/calls/<id>/live` follows it as it happens (the call page's live panel),
`/ws/calls/<id>/listen` hears it (CallListenConsumer, below).

`/ws/calls/<id>/live`:

Session-authenticated (the admin's login cookie, through Channels' AuthMiddlewareStack) and behind an Origin check
(a page of another site cannot open it with the staff member's cookie); refused (close code 4403) unless the user is
active staff with the view-call permission. On connect the browser gets the whole state (`type: state`), then
every update published to the call's group (`calls.services.monitoring`): transcript turns as they are heard,
timeline entries (barge-ins, tool calls, keys pressed, the hang-up), status changes, the stream's end. Every
RECHECK_SECONDS the state is re-read and sent again if it changed, so a lost update, or a call carried by another
web process on the in-memory layer, shows up a few seconds late rather than never; the re-reads stop once the call
is final and its audio has ended. The browser sends nothing (anything it sends is ignored).
"""
import asyncio
import contextlib
import logging
import struct
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.utils import timezone

from calls.models import Call
from calls.services.monitoring import (
    LISTEN_KEEPALIVE_TYPE, MonitorGroups, call_listened_record, call_monitor_state, monitor_groups,
)

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
RECHECK_SECONDS = 3.0
VIEW_PERMISSION = "calls.view_call"
LISTEN_PERMISSION = "calls.listen_recording"
LISTEN_KEEPALIVE_S = 4.0  # well inside the feed's LISTEN_EXPIRES_S
AUDIO_HEADER = struct.Struct("<BI")  # side, stream ms


class CallMonitorConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    recheck: asyncio.Task | None = None

    async def connect(self) -> None:
        self.call_id = int(self.scope["url_route"]["kwargs"]["pk"])
        if not await database_sync_to_async(_may_watch)(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        call = await database_sync_to_async(Call.objects.filter(pk=self.call_id).only("code").first)()
        if call is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = monitor_groups(call=call).watch
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.sent_state: dict[str, Any] | None = None
        self.recheck = asyncio.create_task(self._recheck_forever())

    async def _recheck_forever(self) -> None:
        while True:
            state = await database_sync_to_async(call_monitor_state)(call_id=self.call_id)
            if state is None:
                await self.close(code=CLOSE_NOT_FOUND)
                return
            if state != self.sent_state:
                # With the server's clock, so the page counts the elapsed time right whatever its own clock says.
                await self.send_json({**state, "server_time": timezone.now().isoformat()})
                self.sent_state = state
            if state["final"] and not state["streaming"]:
                return
            await asyncio.sleep(RECHECK_SECONDS)

    async def call_live(self, message: dict[str, Any]) -> None:
        """One update from the call's group, passed on as it came."""
        await self.send_json(message["message"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        return  # the page only listens: whatever it sends (JSON or not) is ignored

    async def disconnect(self, code: int) -> None:
        if self.recheck is not None:
            self.recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.recheck
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)


def _may_watch(user: Any, *, also: str | None = None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff
                and user.has_perm(VIEW_PERMISSION) and (also is None or user.has_perm(also)))


class CallListenConsumer(AsyncWebsocketConsumer):
    """`/ws/calls/<id>/listen`: a staff member hearing a live call, both voices, a fraction of a second behind.

    Same door as the watchers' (session, Origin), and the listening permission besides. While open it tells the
    call's feed every LISTEN_KEEPALIVE_S that someone listens (the feed then taps the recording's audio); each
    piece of audio reaches the browser as one binary message: a byte for the side (0 callee, 1 bot), the stream
    time in ms (uint32, little-endian), then 8 kHz mu-law. Who listened, and for how long, goes on the call's
    timeline when the socket closes.
    """

    call_groups: MonitorGroups | None = None
    keepalive: asyncio.Task | None = None

    async def connect(self) -> None:
        self.call_id = int(self.scope["url_route"]["kwargs"]["pk"])
        user = self.scope.get("user")
        if not await database_sync_to_async(_may_watch)(user, also=LISTEN_PERMISSION):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        call = await database_sync_to_async(Call.objects.filter(pk=self.call_id).only("code", "status").first)()
        if call is None or call.is_final:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.call_groups = monitor_groups(call=call)
        self.username = user.get_username()
        await self.channel_layer.group_add(self.call_groups.listen, self.channel_name)
        await self.accept()
        self.started = time.monotonic()
        self.keepalive = asyncio.create_task(self._keep_listening())

    async def _keep_listening(self) -> None:
        while True:
            await self.channel_layer.group_send(self.call_groups.control, {"type": LISTEN_KEEPALIVE_TYPE})
            await asyncio.sleep(LISTEN_KEEPALIVE_S)

    async def call_audio(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=AUDIO_HEADER.pack(message["side"], message["at_ms"]) + message["audio"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        return  # the page only listens

    async def disconnect(self, code: int) -> None:
        if self.keepalive is None:
            return  # refused
        self.keepalive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.keepalive
        await self.channel_layer.group_discard(self.call_groups.listen, self.channel_name)
        seconds = round(time.monotonic() - self.started, 1)
        await database_sync_to_async(call_listened_record)(call_id=self.call_id, user=self.username, seconds=seconds)
