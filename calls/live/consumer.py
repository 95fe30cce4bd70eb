"""`/media-stream`: the websocket Twilio opens for a live call, a thin shell around `calls.live.relay.Relay`.

It checks the handshake's `X-Twilio-Signature`, waits for Twilio's `start` frame and spends the call's single-use
stream token from its custom parameters, and only then opens the OpenAI Realtime session. Everything else is the
relay's job; what the relay reports (`calls.live.relay.events`, ending with `StreamEnded`) is saved through
`calls.services.streaming`, off the audio path (a queue and one writer task), so a slow database never delays a frame.
"""
import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from calls import twilio_client
from calls.live import media
from calls.agent_config import load_agent_config, relay_settings
from calls.exceptions import CallError, StreamTokenError
from calls.models import Call, EndReason
from calls.live.realtime_client import RealtimeUnavailable, realtime_connect
from calls.live.relay import Recorder, Relay
from calls.live.relay.events import RelayEvent
from calls.services import call_say_and_hang_up, stream_token_redeem
from calls.services.streaming import (
    call_relay_event_record,
    call_stream_finished,
    call_stream_started,
)
from calls.services.recordings import recording_file_open, recording_name_for
from voicebot_site.log_safety import log_value

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4403


class MediaStreamConsumer(AsyncWebsocketConsumer):
    call: Call | None = None
    relay: Relay | None = None
    refused = False  # closed before a relay ran: nothing more from this socket is read

    async def connect(self) -> None:
        if not self._handshake_signed():
            logger.warning("Media stream refused: bad or missing X-Twilio-Signature")
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.events: asyncio.Queue[RelayEvent | None] = asyncio.Queue()
        self.tasks: list[asyncio.Task] = []
        self.finished = False
        await self.accept()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # Channels' own loop costs too much at 50 frames a second per call: it listens on a channel layer this
        # consumer never uses, spends an asyncio.wait and a new task on every message (so a call's frames wait a
        # full event-loop turn each and queue up under load), and hops to its one shared sync thread before every
        # message to close stale database connections (p99 of seconds at 10 calls). Frames never touch the ORM
        # here; every write goes through database_sync_to_async, which does that cleanup around itself.
        self.scope, self.base_send, self.channel_layer = scope, send, None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    await self.websocket_receive(message)
                else:
                    await super().dispatch(message)
        except StopConsumer:
            pass

    def _handshake_signed(self) -> bool:
        if not settings.TWILIO_AUTH_TOKEN:
            return True  # development without Twilio: the single-use token still guards the stream
        headers = dict(self.scope.get("headers", []))
        signature = headers.get(b"x-twilio-signature", b"").decode("latin-1")
        try:
            url = twilio_client.twilio_stream_url()
        except CallError:
            return False
        return bool(signature) and twilio_client.twilio_request_is_valid(url=url, params={}, signature=signature)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.relay is not None:
            await self.relay.handle_twilio_frame(text_data if text_data is not None else bytes_data)
            return
        if self.refused:
            return  # frames already in flight when we closed; a refused socket gets no second try
        try:
            frame = media.parse_frame(text_data if text_data is not None else bytes_data)
        except media.MalformedFrame as exc:
            logger.warning("Ignored Twilio frame before start: %s", log_value(exc, limit=200))
            return
        if isinstance(frame, media.StartFrame):
            await self._start(frame, received_at=time.monotonic())
        elif not isinstance(frame, media.ConnectedFrame):
            logger.warning("Ignored Twilio %s frame before start", log_value(getattr(frame, "event", "?")))

    async def _start(self, frame: "media.StartFrame", *, received_at: float) -> None:
        call_sid = frame.start.callSid
        try:
            call = await database_sync_to_async(stream_token_redeem)(token=frame.start.customParameters.get("token"))
        except StreamTokenError as exc:
            logger.warning("Media stream refused sid=%s: %s", log_value(call_sid), exc)
            await self._refuse()
            return
        if call.twilio_sid and call.twilio_sid != call_sid:
            logger.warning("Media stream refused sid=%s: token belongs to sid=%s", log_value(call_sid), call.twilio_sid)
            await self._refuse()
            return
        self.call = call
        await database_sync_to_async(call_stream_started)(call=call, stream_sid=frame.streamSid)
        try:
            connection = await realtime_connect()
        except RealtimeUnavailable as exc:
            logger.error("OpenAI Realtime unavailable sid=%s: %s", log_value(call_sid), exc)
            await self._apologise_and_end(EndReason.AI_UNAVAILABLE)
            return
        self.relay = await self._build_relay(connection, call, started_at=received_at)
        self.tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._persist_events())]
        await self.relay.handle_twilio_frame(frame)

    async def _refuse(self) -> None:
        self.refused = True
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _build_relay(self, connection: Any, call: Call, *, started_at: float) -> Relay:
        config = await asyncio.to_thread(load_agent_config, settings.AI_CONFIG_DIR)
        self.apology = config.agent.apology
        relay_config = relay_settings(
            config, voice=settings.OPENAI_AUDIO_VOICE, transcription_model=settings.OPENAI_STT_MODEL,
            language=settings.MODEL_LANGUAGE, duration_limit_s=settings.CALL_DURATION_LIMIT,
            grace_s=settings.CALL_WRAP_UP_GRACE, silence_timeout_s=settings.SILENCE_TIMEOUT,
            input_gain_db=settings.INPUT_GAIN_DB, goodbye_mark_cap_s=settings.GOODBYE_MARK_CAP,
        )
        return Relay(
            send_to_twilio=self.send_json, realtime=connection, settings=relay_config,
            recorder=Recorder(Path(settings.MEDIA_ROOT) / recording_name_for(call=call), open_file=recording_file_open),
            on_event=self._on_event,
            hang_up=self._hang_up, call_sid=call.twilio_sid or str(call.code), started_at=started_at,
        )

    async def send_json(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _on_event(self, event: RelayEvent) -> None:
        self.events.put_nowait(event)

    async def _hang_up(self, reason: str) -> None:
        # Started as a task: a slow Twilio REST round trip must not hold up the frames of the goodbye.
        self.tasks.append(asyncio.create_task(self._twilio_hang_up(reason)))

    async def _twilio_hang_up(self, reason: str) -> None:
        try:
            await asyncio.to_thread(twilio_client.twilio_calls_hangup, sid=self.call.twilio_sid)
        except CallError as exc:
            logger.warning("Hang-up failed sid=%s reason=%s: %s", self.call.twilio_sid, reason, exc)
        await self.close()

    async def _run(self) -> None:
        try:
            reason = await self.relay.run()
        except Exception:
            # A bug must not leave the callee in silence: log it, then end the call as if the AI had failed.
            logger.exception("Relay crashed sid=%s", self.call.twilio_sid)
            reason = self.relay.end_reason = self.relay.end_reason or EndReason.AI_UNAVAILABLE
        if self.finished:
            return  # Twilio went first (stop or a dropped socket)
        if reason == EndReason.AI_UNAVAILABLE:
            await self._apologise_and_end(reason)
        else:
            await self.close()

    async def _apologise_and_end(self, reason: str) -> None:
        apology = getattr(self, "apology", None)
        if apology is None:
            apology = (await asyncio.to_thread(load_agent_config, settings.AI_CONFIG_DIR)).agent.apology
        try:
            await database_sync_to_async(call_say_and_hang_up)(call=self.call, text=apology)
        except CallError as exc:
            logger.error("Could not play the apology sid=%s: %s", self.call.twilio_sid, exc)
        if self.relay is None:
            self.finished = True
            self.refused = True
            await database_sync_to_async(call_stream_finished)(call_id=self.call.pk, end_reason=reason,
                                                               recording_name="")
        await self.close()

    async def _persist_events(self) -> None:
        while (event := await self.events.get()) is not None:
            try:
                await database_sync_to_async(call_relay_event_record)(call_id=self.call.pk, event=event)
            except Exception:
                logger.exception("Could not save %s event sid=%s", type(event).__name__, self.call.twilio_sid)

    async def disconnect(self, code: int) -> None:
        if self.relay is None or self.finished:
            return
        self.finished = True
        # Keeps an earlier reason (callee_hangup, bot_hangup...). Its last event, StreamEnded, finishes the stream
        # in the database once the writer has saved everything before it.
        await self.relay.close(EndReason.STREAM_LOST)
        self.events.put_nowait(None)
        current = asyncio.current_task()
        await asyncio.gather(*(task for task in self.tasks if task is not current), return_exceptions=True)
