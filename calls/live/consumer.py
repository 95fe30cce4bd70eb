"""`/media-stream/<call code>`: the websocket Twilio opens for a live call, a thin shell around the relay.

It checks the handshake's `X-Twilio-Signature` (over this call's own URL, so a signature seen once opens no other
call), waits a few seconds at most for Twilio's `start` frame and spends the call's single-use stream token from its
custom parameters (it must be the token of the call the URL names), and only then opens the OpenAI Realtime session:
while it opens, the opening line plays from its cached rendering if it has one (`calls.opening_audio`), else the
stream's start is saved meanwhile and the model says the line once connected.
Any failure from there until the relay runs ends the call with an apology. Everything else is the relay's job; what
the relay reports (`calls.live.relay.events`, ending with `StreamEnded`) is saved through `calls.services.streaming`,
off the audio path (a queue and one writer task), so a slow database never delays a frame.
"""
import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
import orjson

from calls import twilio_client
from calls.live import media
from calls.live.amd_channel import AmdListener
from calls.agent_config import AgentConfig, apology_text, relay_settings
from calls.live.config_cache import agent_config_cached
from calls.exceptions import CallError, StreamTokenError
from calls.http_tools import http_tool_call, tools_timeout_s
from calls.models import Call, EndReason
from calls.live.monitor import MonitorFeed
from calls.live.realtime_client import RealtimeUnavailable, realtime_connect
from calls.live.relay import Recorder, Relay
from calls.live.relay.cached_opening import DeferredRealtime
from calls.live.relay.events import RelayEvent
from calls.live.relay.reasons import TRANSFERRED
from calls.live.relay.relay import REALTIME_CLOSE_TIMEOUT_S
from calls.live.relay.tool_calls import ToolCall
from calls.services import call_say_and_hang_up, stream_token_redeem
from calls.services.monitoring import monitor_groups
from calls.services.prompt_values import call_prompt_values
from calls.opening_audio import OpeningLine, opening_audio_cached, opening_audio_enqueue, opening_line
from calls.services.recordings import recording_name_for
from calls.services.streaming import call_relay_event_record, call_stream_failed, call_stream_started
from calls.transfer import TransferRefused, call_transfer_start
from campaigns.call_tools import call_tool_run
from voicebot_site.log_safety import log_value
from voicebot_site.private_files import private_file_open

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4403
CLOSE_NO_START = 4408
STOP_AFTER_HANG_UP_TIMEOUT = 5.0  # seconds Twilio gets to send `stop` once the call was hung up

# Twilio REST requests from a live call (the hang-up, the apology) wait on the network for up to TWILIO_HTTP_TIMEOUT.
# They get threads of their own: on the one thread every database_sync_to_async of the process shares, a slow one
# would hold up the start (and every saved event) of all the other calls.
_twilio_rest = ThreadPoolExecutor(max_workers=8, thread_name_prefix="twilio-rest")


@dataclasses.dataclass(frozen=True)
class OpeningAudio:
    text: str
    audio: bytes


def _agent_config(profile: str) -> tuple[AgentConfig, OpeningLine | None, OpeningAudio | None]:
    """The call's AI/ files, its opening line if it can be cached, and the line's rendering if there is one yet
    (file reads: run on a thread)."""
    config = agent_config_cached(settings.AI_CONFIG_DIR, profile)
    line = opening_line(config, profile)
    audio = opening_audio_cached(line)
    return config, line, None if audio is None else OpeningAudio(text=line.text, audio=audio)


class MediaStreamConsumer(AsyncWebsocketConsumer):
    call: Call | None = None
    relay: Relay | None = None
    refused = False  # closed before a relay ran: nothing more from this socket is read
    amd: AmdListener | None = None  # answering-machine detection's verdict, from the web process (amd_channel)
    answered_by = ""  # that verdict, when it came before the relay ran
    detects_answering_machines = True  # a phone call may reach one; the browser's test call (browser_call) cannot

    async def connect(self) -> None:
        self.call_code = str(self.scope["url_route"]["kwargs"]["call_code"])
        if not await self._handshake_allowed():
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.events: asyncio.Queue[RelayEvent | None] = asyncio.Queue()
        self.tasks: list[asyncio.Task] = []
        self.finished = False
        await self.accept()
        self.start_deadline = asyncio.create_task(self._close_without_start())
        if self.detects_answering_machines and settings.AMD_MODE not in ("", "off"):
            self.amd = AmdListener(self.call_code, self._answered_by)
            await self.amd.start()

    async def _close_without_start(self) -> None:
        # Without this a signed socket that never sends `start` would be held open for Daphne's own 24 h limit.
        await asyncio.sleep(settings.STREAM_START_TIMEOUT)
        logger.warning("Media stream closed call=%s: no start frame within %ss", self.call_code,
                       settings.STREAM_START_TIMEOUT)
        self.refused = True
        await self.close(code=CLOSE_NO_START)

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
                if message["type"] != "websocket.receive":
                    await super().dispatch(message)
                elif self.relay is not None:  # a live call's frames, straight to the relay
                    text = message.get("text")
                    await self.relay.handle_twilio_frame(text if text is not None else message.get("bytes"))
                else:
                    await self.websocket_receive(message)
        except StopConsumer:
            pass

    async def _handshake_allowed(self) -> bool:
        """Whether this socket may speak for the call (Twilio's: the handshake carries Twilio's signature)."""
        if self._handshake_signed():
            return True
        logger.warning("Media stream refused call=%s: bad or missing X-Twilio-Signature", self.call_code)
        return False

    def _handshake_signed(self) -> bool:
        if not settings.TWILIO_AUTH_TOKEN:
            return True  # development without Twilio: the single-use token still guards the stream
        headers = dict(self.scope.get("headers", []))
        signature = headers.get(b"x-twilio-signature", b"").decode("latin-1")
        try:
            url = twilio_client.twilio_stream_url(call_code=self.call_code)
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
            self.start_deadline.cancel()
            await self._start(frame, received_at=time.monotonic())
        elif not isinstance(frame, media.ConnectedFrame):
            logger.warning("Ignored Twilio %s frame before start", log_value(getattr(frame, "event", "?")))

    async def _start(self, frame: "media.StartFrame", *, received_at: float) -> None:
        call_sid = frame.start.callSid
        try:
            call = await database_sync_to_async(stream_token_redeem)(
                token=frame.start.customParameters.get("token"), call_code=self.call_code)
        except StreamTokenError as exc:
            logger.warning("Media stream refused sid=%s call=%s: %s", log_value(call_sid), self.call_code, exc)
            await self._refuse()
            return
        if call.twilio_sid and call.twilio_sid != call_sid:
            logger.warning("Media stream refused sid=%s: token belongs to sid=%s", log_value(call_sid), call.twilio_sid)
            await self._refuse()
            return
        self.call = call
        self.monitor = MonitorFeed(monitor_groups(call=call), call_sid=call.twilio_sid or str(call.code))
        connection = None
        try:
            config, line, opening = await asyncio.to_thread(_agent_config, call.agent_profile)
            if used := config.agent.variables():  # {{contact.name}}...: this call's values, in every text
                values = await database_sync_to_async(call_prompt_values)(call_id=call.pk, used=used)
                config = config.model_copy(update={"agent": config.agent.rendered(values)})
            if opening is not None:  # played at once; the stream's start is saved and OpenAI opened meanwhile
                connection = DeferredRealtime(realtime_connect())
                self.relay = await self._build_relay(connection, call, config, started_at=received_at,
                                                     opening=opening)
            else:
                # Both at once (the callee is waiting to hear the bot); a failure of either is handled as before.
                saved, opened = await asyncio.gather(
                    database_sync_to_async(call_stream_started)(call=call, stream_sid=frame.streamSid),
                    realtime_connect(), return_exceptions=True)
                connection = None if isinstance(opened, BaseException) else opened
                for outcome in (saved, opened):
                    if isinstance(outcome, BaseException):
                        raise outcome
                self.relay = await self._build_relay(connection, call, config, started_at=received_at)
        except Exception as exc:
            # The token is spent and the callee is listening: whatever failed (OpenAI, a broken AI/*.yaml after a
            # live edit, the recording's disk, the database), close OpenAI and end the call with an apology.
            if isinstance(exc, RealtimeUnavailable):
                reason = str(exc)
                logger.error("OpenAI Realtime unavailable sid=%s: %s", call.twilio_sid, reason)
            else:
                reason = f"{type(exc).__name__}: {exc}"
                logger.exception("Media stream could not start sid=%s", call.twilio_sid)
            if connection is not None:
                await self._close_realtime(connection)
            await self._start_failed(reason)
            return
        self.monitor.on_whisper = self.relay.whisper  # staff's instructions from the live call page
        self.run_task = asyncio.create_task(self._run())
        start_unsaved = frame.streamSid if opening is not None else None
        self.tasks = [self.run_task, asyncio.create_task(self._persist_events(start_unsaved)),
                      asyncio.create_task(self.monitor.run())]
        await self.relay.handle_twilio_frame(frame)
        if self.answered_by or call.answered_by:  # detection answered before the relay ran
            await self._answered_by(self.answered_by or call.answered_by)
        if line is not None and opening is None:  # rendered for the next calls, once this one has started
            self.tasks.append(asyncio.create_task(self._opening_render_enqueue(line)))

    async def _opening_render_enqueue(self, line: OpeningLine) -> None:
        try:
            await database_sync_to_async(opening_audio_enqueue, thread_sensitive=False)(line)
        except Exception:
            logger.exception("Could not queue the opening line's render sid=%s", self.call.twilio_sid)

    async def _refuse(self) -> None:
        self.refused = True
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _build_relay(self, connection: Any, call: Call, config: AgentConfig, *, started_at: float,
                           opening: OpeningAudio | None = None) -> Relay:
        self.apology = config.agent.apology
        self.http_tools = {tool.name: tool.http for tool in config.tools if tool.http is not None}
        relay_config = relay_settings(
            config, voice=settings.OPENAI_AUDIO_VOICE, transcription_model=settings.OPENAI_STT_MODEL,
            language=settings.TRANSCRIPTION_LANGUAGE, duration_limit_s=settings.CALL_DURATION_LIMIT,
            grace_s=settings.CALL_WRAP_UP_GRACE, silence_timeout_s=settings.SILENCE_TIMEOUT,
            input_gain_db=settings.INPUT_GAIN_DB, goodbye_mark_cap_s=settings.GOODBYE_MARK_CAP,
            wait_for_amd=self.amd is not None and settings.AMD_GREETING == "wait",
            amd_wait_s=settings.AMD_WAIT_SECONDS,
        )
        if opening is not None:
            relay_config = dataclasses.replace(relay_config, opening_audio=opening.audio, opening_line=opening.text)
            call.recording.name = recording_name_for(call=call)  # saved by the events' writer, first
        recorder = Recorder(Path(settings.MEDIA_ROOT) / call.recording.name, open_file=private_file_open)
        await recorder.open()
        self.monitor.attach(recorder)
        return Relay(
            send_to_twilio=self.send_json, realtime=connection, settings=relay_config, recorder=recorder,
            on_event=self._on_event, hang_up=self._hang_up, run_tool=self._run_tool,
            tool_timeout_s=tools_timeout_s(self.http_tools.values()),
            call_sid=call.twilio_sid or str(call.code), started_at=started_at,
        )

    @staticmethod
    async def _close_realtime(connection: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), REALTIME_CLOSE_TIMEOUT_S)

    async def _start_failed(self, reason: str) -> None:
        self.finished = self.refused = True  # no relay will run: later frames have nowhere to go
        await self._apologise()
        try:
            await database_sync_to_async(call_stream_failed)(call_id=self.call.pk, reason=reason)
        except Exception:
            logger.exception("Could not record the failed start sid=%s", self.call.twilio_sid)
        await self.close()

    async def send_json(self, frame: dict) -> None:
        # Straight to Daphne (what `self.send(text_data=...)` comes down to), 50 or more frames a second per call.
        await self.base_send({"type": "websocket.send", "text": orjson.dumps(frame).decode()})

    async def _on_event(self, event: RelayEvent) -> None:
        self.events.put_nowait(event)
        self.monitor.publish(event)  # to the staff watching the call page: never waits

    async def _run_tool(self, call: ToolCall) -> dict[str, Any]:
        # The relay runs it as a task of its own, bounded by its timeout: the audio never waits for the database
        # or the business's endpoint.
        if (endpoint := self.http_tools.get(call.name)) is not None:
            context = {"sid": self.call.twilio_sid, "contact_id": self.call.contact_id,
                       "phone": self.call.phone_number, "campaign_id": self.call.campaign_id}
            return await http_tool_call(endpoint, name=call.name, arguments=call.arguments, context=context,
                                        secret=settings.TOOLS_SIGNING_SECRET, call_sid=self.call.twilio_sid)
        return await database_sync_to_async(call_tool_run)(
            call_id=self.call.pk, name=call.name, arguments=call.arguments, at_ms=call.at_ms)

    async def _answered_by(self, answered_by: str) -> None:
        if self.relay is None:
            self.answered_by = answered_by
            return
        await self.relay.answered_by(answered_by, leave_message=settings.AMD_ACTION == "voicemail")

    async def _hang_up(self, reason: str) -> None:
        # Started as a task: a slow Twilio REST round trip must not hold up the frames of the goodbye.
        if reason == TRANSFERRED:
            transfer = self._transfer(self.relay.timers.ending.tool_reason or "")
            self.tasks.append(asyncio.create_task(transfer))
            return
        self.tasks.append(asyncio.create_task(self._twilio_hang_up(reason)))

    async def _transfer(self, reason: str) -> None:
        """Twilio moves the call to the person (calls.transfer), and ends this stream; if it cannot, hang up."""
        transfer = database_sync_to_async(call_transfer_start, thread_sensitive=False, executor=_twilio_rest)
        try:
            await transfer(call_id=self.call.pk, reason=reason)
        except Exception as exc:
            # Refused (logged and recorded), or a bug or database trouble: either way the callee, who heard the
            # hand-off line, must not be left on a line nobody talks on.
            if not isinstance(exc, TransferRefused):
                logger.exception("Transfer crashed sid=%s reason=%s", self.call.twilio_sid, reason)
            await self._twilio_hang_up(TRANSFERRED)

    async def _twilio_hang_up(self, reason: str) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(
                _twilio_rest, functools.partial(twilio_client.twilio_calls_hangup, sid=self.call.twilio_sid))
        except CallError as exc:
            logger.warning("Hang-up failed sid=%s reason=%s: %s", self.call.twilio_sid, reason, exc)
        else:
            # Twilio now ends the stream with `stop`: the audio it sent until then (still on its way, or queued here
            # behind a busy moment) belongs to the call and its recording. Close it ourselves only if it does not.
            if not self.run_task.done() and (
                    await asyncio.wait({self.run_task}, timeout=STOP_AFTER_HANG_UP_TIMEOUT))[0]:
                return  # the relay ended with Twilio's stop, and closed the socket
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
            await self._apologise()
        await self.close()

    async def _apologise(self) -> None:
        """Have Twilio say the apology and hang up (its text from agent.yaml, or a built-in one if that is broken)."""
        apology = getattr(self, "apology", None) or await asyncio.to_thread(
            apology_text, settings.AI_CONFIG_DIR, self.call.agent_profile)
        # On a thread of its own (with the database cleanup of database_sync_to_async around it), not the shared one.
        say_and_hang_up = database_sync_to_async(call_say_and_hang_up, thread_sensitive=False, executor=_twilio_rest)
        try:
            await say_and_hang_up(call=self.call, text=apology)
        except CallError as exc:
            logger.error("Could not play the apology sid=%s: %s", self.call.twilio_sid, exc)
        except Exception:  # e.g. the database, while saving that it was said: the call is ending either way
            logger.exception("Apology request failed sid=%s", self.call.twilio_sid)

    async def _persist_events(self, start_unsaved: str | None = None) -> None:
        if start_unsaved is not None:  # the cached opening played before the stream's start was saved
            try:
                await database_sync_to_async(call_stream_started)(call=self.call, stream_sid=start_unsaved)
            except Exception:
                logger.exception("Could not save the stream's start sid=%s", self.call.twilio_sid)
        while (event := await self.events.get()) is not None:
            try:
                await database_sync_to_async(call_relay_event_record)(call_id=self.call.pk, event=event)
            except Exception:
                logger.exception("Could not save %s event sid=%s", type(event).__name__, self.call.twilio_sid)

    async def disconnect(self, code: int) -> None:
        if (deadline := getattr(self, "start_deadline", None)) is not None:
            deadline.cancel()
        if self.amd is not None:
            await self.amd.stop()
        if self.relay is None or self.finished:
            return
        self.finished = True
        # Keeps an earlier reason (callee_hangup, bot_hangup...). Its last event, StreamEnded, finishes the stream
        # in the database once the writer has saved everything before it.
        await self.relay.close(EndReason.STREAM_LOST)
        self.events.put_nowait(None)
        self.monitor.close()
        current = asyncio.current_task()
        await asyncio.gather(*(task for task in self.tasks if task is not current), return_exceptions=True)
