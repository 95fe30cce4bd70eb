"""`/media-stream` through the real router: Channels' WebsocketCommunicator on one side, the fake OpenAI Realtime
server (real socket, real `openai` SDK) on the other, the fake Twilio REST server for hang-ups and apologies."""
from __future__ import annotations

import asyncio
import base64
import json
import secrets
import wave
import xml.etree.ElementTree as ET
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import OperationalError
from django.utils import timezone
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent, CallStatus
from calls.live.routing import websocket_urlpatterns
from calls.services import call_update_status, place_call
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.speech import CALLEE_SPEECH
from simulator.twilio_frames import TwilioFrames
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_STREAM_BASE = "wss://voicebot.example/media-stream/"


def stream_url(call_code: object) -> str:
    """The stream URL Twilio opens, and signs, for the call `call_code` (what its TwiML names)."""
    return f"{PUBLIC_STREAM_BASE}{call_code}"


FRAME = 160  # 20 ms of mu-law
application = URLRouter(websocket_urlpatterns)


@pytest.fixture
def callee_audio() -> bytes:
    return CALLEE_SPEECH


@pytest.fixture
def live(settings, fake_twilio):
    settings.CALL_DURATION_LIMIT = 0
    settings.SILENCE_TIMEOUT = 0
    settings.GOODBYE_MARK_CAP = 5
    return fake_twilio


@asynccontextmanager
async def realtime(settings, scenario: RealtimeScenario | None = None):
    async with FakeRealtimeServer(scenario or RealtimeScenario(replies=[Reply(audio_ms=400)])) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = server.api_key
        yield server


class TwilioStream:
    """Twilio's side of one media stream, over a WebsocketCommunicator: sends frames, records what comes back and
    returns each mark as soon as it arrives (as if the audio had played instantly)."""

    def __init__(self, call_sid: str, token: str | None, *, echo_marks: bool = True, url: str | None = None) -> None:
        self.call_sid, self.token, self.echo_marks = call_sid, token, echo_marks
        self.url = url  # the stream URL of the call's TwiML (by default, the one of call `call_sid`)
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.framer = TwilioFrames(call_sid=call_sid, stream_sid=self.stream_sid)
        self.frames: list[dict[str, Any]] = []
        self.marks_returned: list[str] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.comm: WebsocketCommunicator | None = None
        self._reader: asyncio.Task | None = None
        self._hung_up = False

    async def open(self, *, signature: str | None = "sign", headers: list | None = None) -> tuple[bool, Any]:
        if self.url is None:
            self.url = stream_url((await Call.objects.aget(twilio_sid=self.call_sid)).code)
        if headers is None:
            headers = []
            if signature == "sign":
                signature = RequestValidator(django_settings.TWILIO_AUTH_TOKEN).compute_signature(self.url, {})
            if signature:
                headers.append((b"x-twilio-signature", signature.encode()))
        self.comm = WebsocketCommunicator(application, urlsplit(self.url).path, headers=headers)
        accepted, detail = await self.comm.connect(timeout=5)
        if accepted:
            self._reader = asyncio.create_task(self._read())
        return accepted, detail

    async def start(self, *, params: dict[str, str] | None = None) -> None:
        await self.send(self.framer.connected())
        await self.send(self.framer.start({"token": self.token} if params is None else params))

    async def send(self, frame: dict | str) -> None:
        await self.comm.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def stream(self, audio: bytes, *, from_ms: int = 0, pace: float = 0.002) -> int:
        """Send `audio` in 20 ms frames stamped from `from_ms`; returns the next timestamp."""
        for offset in range(0, len(audio) - FRAME + 1, FRAME):
            if self.closed.is_set():
                break
            await self.send(self.framer.media(from_ms, audio[offset:offset + FRAME]))
            from_ms += 20
            await asyncio.sleep(pace)
        return from_ms

    async def dtmf(self, digit: str) -> None:
        await self.send(self.framer.dtmf(digit))

    async def stop(self) -> None:
        await self.send(self.framer.stop())

    async def hang_up(self) -> None:
        """The socket goes away (after a stop, or dropped): Channels runs the consumer's disconnect(), once."""
        if self._hung_up:
            return
        self._hung_up = True
        if self._reader is not None:
            self._reader.cancel()
        await self.comm.disconnect(timeout=10)

    async def _read(self) -> None:
        while True:
            message = await self.comm.receive_output(timeout=120)
            if message["type"] == "websocket.close":
                self.close_code = message.get("code", 1000)
                self.closed.set()
                return
            frame = json.loads(message["text"])
            self.frames.append(frame)
            if frame["event"] == "mark" and self.echo_marks:
                self.marks_returned.append(frame["mark"]["name"])
                await self.send(self.framer.mark(frame["mark"]["name"]))

    def of_event(self, event: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["event"] == event]

    def bot_audio(self) -> bytes:
        return b"".join(base64.b64decode(frame["media"]["payload"]) for frame in self.of_event("media"))


async def dial(live, number: str = "+34600111222") -> tuple[Call, str]:
    """Place a call through the service (FakeTwilio dials) and take the token from the TwiML Twilio received."""
    call = await sync_to_async(place_call)(phone_number=number)
    _, _, params = live.stream_handshake(call.twilio_sid)
    return call, params["token"]


@asynccontextmanager
async def answered_call(settings, live, scenario: RealtimeScenario | None = None, *, echo_marks: bool = True):
    """A call placed through the service and answered: the fake OpenAI serving `scenario`, Twilio's media stream
    open (signed handshake) and started with the call's token. Yields (fake OpenAI, call, Twilio's side); on the
    way out Twilio's socket goes away, if the test has not already hung up."""
    async with realtime(settings, scenario) as server:
        call, token = await dial(live)
        twilio = TwilioStream(call.twilio_sid, token, echo_marks=echo_marks)
        assert (await twilio.open())[0]
        await twilio.start()
        yield server, call, twilio
        await twilio.hang_up()


async def fresh(call: Call) -> Call:
    return await Call.objects.aget(pk=call.pk)


async def events_of(call: Call, kind: str) -> list[CallEvent]:
    return [event async for event in CallEvent.objects.filter(call=call, kind=kind)]


def wav_of(call: Call) -> wave.Wave_read:
    return wave.open(str(Path(django_settings.MEDIA_ROOT) / call.recording.name), "rb")


# ---- a whole call ------------------------------------------------------------------------------------------------


async def test_it_relays_a_short_call_and_saves_what_happened(settings, live, callee_audio, ai_copy):
    # The key goes on the timeline only (its keypad item: tests/calls/test_consumer_http_tools.py).
    agent = ai_copy / "prompts" / "agent.yaml"
    agent.write_text(agent.read_text(encoding="utf-8") + "\nkeypad: {enabled: false}\n", encoding="utf-8")
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=400, speech_ms=800, transcript="Busco piso en Madrid.")],
        replies=[Reply("Hola, soy Lucía.", audio_ms=600), Reply("¿Cuál es su presupuesto?", audio_ms=400)])
    async with answered_call(settings, live, scenario) as (server, call, twilio):
        opening = (await server.wait_for("response.create"))[0]
        assert "Hola" in opening["response"]["instructions"]  # the opening line, after the session.update
        assert server.of_type("session.update")[0]["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        sent = callee_audio[: FRAME * 75]
        end_ms = await twilio.stream(sent)
        await twilio.dtmf("7")
        await server.wait_for("response.create", 1)
        await async_wait_for(lambda: len(twilio.of_event("mark")) >= 5, what="both replies at Twilio")
        await async_wait_for(lambda: len(server.of_type("input_audio_buffer.append")) == 75, what="all callee audio")
        await twilio.stop()

    appended = b"".join(base64.b64decode(e["audio"]) for e in server.of_type("input_audio_buffer.append"))
    assert appended == sent  # untouched: pcmu in, pcmu out
    assert len(twilio.bot_audio()) == (600 + 400) * 8
    media_then_mark = [frame["event"] for frame in twilio.frames[:2]]
    assert media_then_mark == ["media", "mark"]
    assert {frame["streamSid"] for frame in twilio.frames} == {twilio.stream_sid}
    assert server.errors == []

    call = await fresh(call)
    assert call.stream_sid == twilio.stream_sid
    assert call.end_reason == "callee_hangup"
    speakers = [(turn["speaker"], turn["text"]) for turn in call.live_transcript]
    assert ("callee", "Busco piso en Madrid.") in speakers
    assert ("bot", "Hola, soy Lucía.") in speakers and ("bot", "¿Cuál es su presupuesto?") in speakers
    assert [event.detail["digit"] for event in await events_of(call, "dtmf")] == ["7"]
    assert call.token_usage["total_tokens"] == 2 * 1460 and call.token_usage["responses"] == 2
    # Priced as the stream ends, from the two response.done usages the fake Realtime server sent.
    assert call.cost["parts"]["realtime"]["tokens"]["audio_output"] == 2 * 200 and call.cost_total > 0
    assert call.metrics["duration_ms"] >= end_ms and call.metrics["barge_ins"] == 0
    with wav_of(call) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() >= end_ms * 8
    assert call.recording.name.endswith(f"{call.twilio_sid}.wav")
    assert len(await events_of(call, "stream_ended")) == 1


async def test_it_hangs_up_through_twilio_only_after_the_goodbye_has_played(settings, live, callee_audio):
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="Nada más, gracias.")],
        replies=[Reply("Hola.", audio_ms=200), Reply(end_call="informacion_completa"),
                 Reply("Gracias, adiós.", audio_ms=600)])
    async with answered_call(settings, live, scenario, echo_marks=False) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40])
        await server.wait_for("response.create", 2)  # opening, then the goodbye after end_call
        await async_wait_for(lambda: len(twilio.bot_audio()) == (200 + 600) * 8, what="the goodbye's audio")
        await asyncio.sleep(0.3)
        assert not live.calls[call.twilio_sid].hung_up  # its mark has not come back: the callee is still hearing it
        for mark in twilio.of_event("mark"):
            await twilio.send(twilio.framer.mark(mark["mark"]["name"]))
        await async_wait_for(lambda: live.calls[call.twilio_sid].hung_up, what="the REST hang-up")
        # What Twilio sent until it ended the stream is part of the call: the socket stays open for it and `stop`.
        end_ms = await twilio.stream(callee_audio[FRAME * 40: FRAME * 60], from_ms=800)
        assert not twilio.closed.is_set()
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)

    call = await fresh(call)
    assert call.end_reason == "bot_hangup"
    assert (await events_of(call, "hang_up"))[0].detail["tool_reason"] == "informacion_completa"
    with wav_of(call) as wav:
        assert wav.getnframes() == end_ms * 8


async def test_after_its_hang_up_it_closes_a_stream_that_twilio_never_stops(settings, live, callee_audio,
                                                                            monkeypatch):
    monkeypatch.setattr("calls.live.consumer.STOP_AFTER_HANG_UP_TIMEOUT", 0.5)
    scenario = RealtimeScenario(replies=[Reply(end_call="informacion_completa"), Reply("Adiós.", audio_ms=200)])
    async with answered_call(settings, live, scenario) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 10])
        await async_wait_for(lambda: live.calls[call.twilio_sid].hung_up, what="the REST hang-up")
        await asyncio.wait_for(twilio.closed.wait(), 5)  # no stop came: closed after the wait

    assert (await fresh(call)).end_reason == "bot_hangup"


# ---- who may connect ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "forged"])
async def test_it_refuses_a_handshake_without_a_valid_signature(settings, live, signature):
    async with realtime(settings) as server:
        call, token = await dial(live)
        accepted, code = await TwilioStream(call.twilio_sid, token).open(signature=signature or "")
    assert (accepted, code) == (False, 4403)
    assert server.handshakes == []


async def test_it_accepts_an_unsigned_handshake_when_twilio_is_not_configured(settings, live):
    async with realtime(settings) as server:
        call, token = await dial(live)
        settings.TWILIO_AUTH_TOKEN = ""
        twilio = TwilioStream(call.twilio_sid, token)
        assert (await twilio.open(signature=""))[0]
        await twilio.start()
        await server.wait_for("session.update")
        await twilio.stop()
        await twilio.hang_up()


async def _refused_start(settings, live, twilio: TwilioStream, params: dict | None = None) -> FakeRealtimeServer:
    async with realtime(settings) as server:
        assert (await twilio.open())[0]
        await twilio.start(params=params)
        await asyncio.wait_for(twilio.closed.wait(), 5)
        await twilio.hang_up()
    assert twilio.close_code == 4403
    assert server.handshakes == []  # OpenAI never saw a connection
    return server


async def test_it_closes_4403_on_a_start_without_a_token(settings, live):
    call, _ = await dial(live)
    await _refused_start(settings, live, TwilioStream(call.twilio_sid, None), params={})


async def test_it_closes_4403_on_an_unknown_token(settings, live):
    call, _ = await dial(live)
    await _refused_start(settings, live, TwilioStream(call.twilio_sid, "not-a-token"))


async def test_it_closes_4403_on_a_reused_token(settings, live):
    async with realtime(settings) as server:
        call, token = await dial(live)
        first = TwilioStream(call.twilio_sid, token)
        assert (await first.open())[0]
        await first.start()
        await server.wait_for("session.update")
        second = TwilioStream(call.twilio_sid, token)
        assert (await second.open())[0]
        await second.start()
        await asyncio.wait_for(second.closed.wait(), 5)
        assert second.close_code == 4403
        assert len(server.handshakes) == 1
        await second.hang_up()
        await first.stop()
        await first.hang_up()


async def test_a_refused_socket_gets_no_second_try(settings, live):
    call, token = await dial(live)
    async with realtime(settings) as server:
        twilio = TwilioStream(call.twilio_sid, "guess-1")
        assert (await twilio.open())[0]
        await twilio.start()
        await asyncio.wait_for(twilio.closed.wait(), 5)
        twilio.token = token
        await twilio.start()  # frames still in flight after our close
        await asyncio.sleep(0.2)
        await twilio.hang_up()
    assert server.handshakes == []
    assert (await fresh(call)).stream_token_used_at is None  # the real token is still good for the real stream


async def test_it_closes_4403_on_an_expired_token(settings, live):
    call, token = await dial(live)
    await Call.objects.filter(pk=call.pk).aupdate(stream_token_expires_at=timezone.now() - timedelta(seconds=1))
    await _refused_start(settings, live, TwilioStream(call.twilio_sid, token))


async def test_it_closes_4403_on_a_token_of_another_call(settings, live):
    _, token = await dial(live, "+34600111222")
    other, _ = await dial(live, "+34600333444")
    await _refused_start(settings, live, TwilioStream(other.twilio_sid, token))


# ---- what it ignores ---------------------------------------------------------------------------------------------


async def test_it_ignores_media_before_start_and_garbage_during_the_call(settings, live, callee_audio):
    async with realtime(settings) as server:
        call, token = await dial(live)
        twilio = TwilioStream(call.twilio_sid, token)
        assert (await twilio.open())[0]
        await twilio.send(twilio.framer.media(0, callee_audio[:FRAME]))  # before start: nowhere to go
        await twilio.start()
        await server.wait_for("session.update")
        bad_base64 = twilio.framer.media(0, payload="***not base64***")
        oversized = twilio.framer.media(0, b"\x7f" * 60_000)
        for garbage in ("not json", "[1, 2]", json.dumps({"event": "mystery", "streamSid": twilio.stream_sid}),
                        json.dumps(bad_base64), json.dumps(oversized), json.dumps({"event": "media"})):
            await twilio.send(garbage)
        await twilio.comm.send_to(bytes_data=b"\x00\x01binary")
        await twilio.stream(callee_audio[: FRAME * 10])
        await async_wait_for(lambda: len(server.of_type("input_audio_buffer.append")) == 10, what="the good frames")
        assert not twilio.closed.is_set()  # the call goes on
        await twilio.stop()
        await twilio.hang_up()
    appended = b"".join(base64.b64decode(e["audio"]) for e in server.of_type("input_audio_buffer.append"))
    assert appended == callee_audio[: FRAME * 10]
    assert (await fresh(call)).end_reason == "callee_hangup"


# ---- when things fail --------------------------------------------------------------------------------------------


async def test_it_apologises_through_twilio_when_openai_refuses(settings, live):
    async with answered_call(settings, live, RealtimeScenario(refuse_connections=True)) as (server, call, twilio):
        await asyncio.wait_for(twilio.closed.wait(), 5)
    assert server.refused == 1
    updates = live.calls[call.twilio_sid].twiml_updates
    assert len(updates) == 1 and "<Say" in updates[0] and "<Hangup" in updates[0]
    call = await fresh(call)
    assert call.end_reason == "ai_unavailable"
    assert await events_of(call, "say_and_hangup")


async def test_it_apologises_when_openai_drops_mid_call_and_keeps_the_recording(settings, live, callee_audio):
    async with answered_call(settings, live) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 50])
        await async_wait_for(lambda: twilio.marks_returned, what="the opening line")
        await server.drop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
    updates = live.calls[call.twilio_sid].twiml_updates
    assert len(updates) == 1 and "<Say" in updates[0]
    call = await fresh(call)
    assert call.end_reason == "ai_unavailable"
    assert await events_of(call, "ai_unavailable")
    with wav_of(call) as wav:
        assert wav.getnframes() >= 50 * FRAME


async def test_a_crash_in_the_relay_is_logged_and_the_callee_hears_the_apology(
    settings, live, callee_audio, monkeypatch, caplog
):
    from calls.live.relay import Relay

    async def broken_run(relay):
        await asyncio.sleep(0.05)
        raise RuntimeError("a bug in the relay")

    monkeypatch.setattr(Relay, "run", broken_run)
    async with answered_call(settings, live) as (_, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 10])
        await asyncio.wait_for(twilio.closed.wait(), 5)
    crash = [r for r in caplog.records if r.getMessage() == f"Relay crashed sid={call.twilio_sid}"]
    assert crash and "a bug in the relay" in str(crash[0].exc_info[1])
    updates = live.calls[call.twilio_sid].twiml_updates
    assert len(updates) == 1 and "<Say" in updates[0] and "<Hangup" in updates[0]
    call = await fresh(call)
    assert call.end_reason == "ai_unavailable" and call.recording.name.endswith(".wav")


async def test_it_finishes_the_call_when_the_twilio_socket_drops(settings, live, callee_audio):
    async with answered_call(settings, live) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 50])
        await server.wait_for("response.create")
        await twilio.hang_up()  # no stop frame
        await async_wait_for(lambda: server.sessions[0].ws.state.name == "CLOSED", what="the OpenAI socket to close")
    call = await fresh(call)
    assert call.end_reason == "stream_lost"
    with wav_of(call) as wav:
        assert wav.getnframes() >= 50 * FRAME
    assert not live.calls[call.twilio_sid].twiml_updates  # nothing to apologise for: nobody is listening


async def test_it_ends_the_call_at_the_duration_limit(settings, live, callee_audio):
    settings.CALL_DURATION_LIMIT = 1
    settings.CALL_WRAP_UP_GRACE = 0
    async with answered_call(settings, live) as (_, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 75], pace=0.02)
        await async_wait_for(lambda: live.calls[call.twilio_sid].hung_up, what="the hang-up at the limit")
    assert (await fresh(call)).end_reason == "duration_limit"


async def test_it_enqueues_processing_when_twilio_said_final_before_the_stream_ended(
    settings, live, monkeypatch, callee_audio
):
    enqueued: list[tuple] = []
    monkeypatch.setattr("extraction.services.async_task", lambda *args, **kwargs: enqueued.append(args))
    async with answered_call(settings, live) as (_, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 20])
        await sync_to_async(call_update_status)(call_sid=call.twilio_sid, status=CallStatus.COMPLETED,
                                                sequence_number=5, duration=3)
        assert enqueued == []  # no recording yet
        await twilio.stop()
    assert enqueued == [("extraction.tasks.process_call", call.pk)]
    assert (await fresh(call)).recording.name


# ---- a stream opens only its own call ----------------------------------------------------------------------------


async def test_a_signature_opens_only_the_stream_of_its_own_call(settings, live):
    async with realtime(settings) as server:
        first, _ = await dial(live, "+34600111222")
        second, second_token = await dial(live, "+34600333444")
        seen = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(stream_url(first.code), {})
        # The first call's signature, replayed on the second call's stream.
        accepted, code = await TwilioStream(second.twilio_sid, second_token).open(signature=seen)
    assert (accepted, code) == (False, 4403)
    assert server.handshakes == []
    with pytest.raises(ValueError, match="No route"):  # the one fixed URL whose signature fitted every call is gone
        await WebsocketCommunicator(application, "/media-stream", headers=[
            (b"x-twilio-signature", seen.encode())]).connect(timeout=5)


async def test_a_token_presented_on_another_calls_stream_is_refused_and_left_unspent(settings, live):
    first, first_token = await dial(live, "+34600111222")
    second, _ = await dial(live, "+34600333444")
    # Signed for the second call's URL, but carrying the first call's token.
    await _refused_start(settings, live, TwilioStream(first.twilio_sid, first_token, url=stream_url(second.code)))
    assert (await fresh(first)).stream_token_used_at is None  # still good for the first call's own stream


async def test_a_socket_that_never_sends_start_is_closed(settings, live):
    settings.STREAM_START_TIMEOUT = 0.3
    async with realtime(settings) as server:
        call, token = await dial(live)
        twilio = TwilioStream(call.twilio_sid, token)
        assert (await twilio.open())[0]
        await twilio.send(twilio.framer.connected())  # and then nothing
        await asyncio.wait_for(twilio.closed.wait(), 5)
        await twilio.hang_up()
    assert twilio.close_code == 4408
    assert server.handshakes == []
    assert (await fresh(call)).stream_token_used_at is None


async def test_a_stream_that_starts_in_time_is_not_closed_by_the_start_deadline(settings, live, callee_audio):
    settings.STREAM_START_TIMEOUT = 0.3
    async with answered_call(settings, live) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40], pace=0.02)  # 0.8 s: past the deadline
        assert not twilio.closed.is_set()
        await twilio.stop()
    assert (await fresh(call)).end_reason == "callee_hangup"


# ---- a start that fails ------------------------------------------------------------------------------------------


def _ai_dir_with(tmp_path: Path, broken: str) -> Path:
    """A copy of AI/ whose file `broken` no longer parses (a bad live edit)."""
    import shutil

    ai_dir = tmp_path / "AI"
    shutil.copytree(Path(django_settings.BASE_DIR) / "AI", ai_dir)
    (ai_dir / broken).write_text("persona: [unclosed\n", encoding="utf-8")
    return ai_dir


async def _failed_start(settings, live, *, opened: bool = True) -> tuple[FakeRealtimeServer, Call, TwilioStream, str]:
    """Answer a call whose stream start fails; returns the fake OpenAI, the call, Twilio's side and what Twilio was
    told to say. `opened`: the failure came after the OpenAI session was opened (then it must be closed)."""
    async with answered_call(settings, live) as (server, call, twilio):
        await asyncio.wait_for(twilio.closed.wait(), 5)
        if opened:
            await async_wait_for(lambda: server.sessions and server.sessions[0].ws.state.name == "CLOSED",
                                 what="the OpenAI session to be closed")
    if not opened:
        assert server.handshakes == []
    updates = live.calls[call.twilio_sid].twiml_updates
    assert len(updates) == 1 and "<Hangup" in updates[0]
    said = ET.fromstring(updates[0]).find("Say").text
    return server, await fresh(call), twilio, said


@pytest.mark.parametrize("broken, apology", [
    ("prompts/agent.yaml", "fallback"),  # the apology's own file: the built-in text
    ("tools/tools.yaml", "agent.yaml"),  # another file: agent.yaml's apology still reads
])
async def test_a_broken_ai_config_at_start_ends_the_call_with_an_apology(settings, live, tmp_path, broken, apology):
    from calls.agent_config import FALLBACK_APOLOGY, load_part

    settings.AI_CONFIG_DIR = _ai_dir_with(tmp_path, broken)
    server, call, twilio, said = await _failed_start(settings, live, opened=False)  # read before OpenAI is opened

    expected = FALLBACK_APOLOGY if apology == "fallback" else load_part(
        "prompts/agent.yaml", Path(django_settings.BASE_DIR) / "AI").apology
    assert said == expected
    assert server.of_type("session.update") == []
    assert call.end_reason == "ai_unavailable"
    [unavailable] = await events_of(call, "ai_unavailable")
    assert "AgentConfigError" in unavailable.detail["detail"] and broken in unavailable.detail["detail"]
    assert len(await events_of(call, "stream_ended")) == 1
    assert await events_of(call, "say_and_hangup")
    assert not call.recording  # no audio was ever written


async def test_a_recording_that_cannot_be_created_ends_the_call_with_an_apology(settings, live, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    settings.MEDIA_ROOT = str(tmp_path / "not-a-folder" / "media")
    server, call, twilio, said = await _failed_start(settings, live)
    assert "Disculpe" in said  # agent.yaml's apology
    assert call.end_reason == "ai_unavailable"
    [unavailable] = await events_of(call, "ai_unavailable")
    assert "Error" in unavailable.detail["detail"]  # NotADirectoryError / FileExistsError, with its path
    assert not call.recording and len(await events_of(call, "stream_ended")) == 1


async def test_a_database_failure_at_start_closes_the_openai_session_opened_meanwhile(settings, live, monkeypatch):
    def locked(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("calls.live.consumer.call_stream_started", locked)  # OpenAI is connected at the same time
    server, call, twilio, said = await _failed_start(settings, live)  # ...and closed
    assert "Disculpe" in said and call.end_reason == "ai_unavailable"
    assert server.of_type("session.update") == []
    [unavailable] = await events_of(call, "ai_unavailable")
    assert "OperationalError" in unavailable.detail["detail"]


async def test_openai_refusing_is_recorded_with_its_reason(settings, live):
    async with answered_call(settings, live, RealtimeScenario(refuse_connections=True)) as (_, call, twilio):
        await asyncio.wait_for(twilio.closed.wait(), 5)
    [unavailable] = await events_of(call, "ai_unavailable")
    assert "OpenAI Realtime" in unavailable.detail["detail"]
    assert len(await events_of(call, "stream_ended")) == 1


# ---- what one call's slow Twilio request does to the others ------------------------------------------------------


async def test_a_slow_apology_request_does_not_hold_up_another_calls_start(settings, live):
    live.delay_updates_s = 3.0
    async with FakeRealtimeServer(RealtimeScenario(refuse_connections=True)) as down, realtime(settings) as up:
        first, first_token = await dial(live, "+34600111222")
        second, second_token = await dial(live, "+34600333444")
        settings.OPENAI_BASE_URL = down.base_url
        failing = TwilioStream(first.twilio_sid, first_token)
        assert (await failing.open())[0]
        await failing.start()
        await async_wait_for(lambda: live.requests_to("POST", f"/Calls/{first.twilio_sid}.json"),
                             what="the first call's apology request")  # Twilio now takes 3 s to answer it
        settings.OPENAI_BASE_URL = up.base_url
        healthy = TwilioStream(second.twilio_sid, second_token)
        began = asyncio.get_running_loop().time()
        assert (await healthy.open())[0]
        await healthy.start()
        await up.wait_for("session.update", timeout=10)
        took = asyncio.get_running_loop().time() - began
        await healthy.stop()
        await healthy.hang_up()
        await asyncio.wait_for(failing.closed.wait(), 10)
        await failing.hang_up()
    assert took < 1.5, f"the second call's start waited {took:.1f} s behind the first call's apology"
    assert await events_of(first, "say_and_hangup")


# ---- the recording is the call's from the start ------------------------------------------------------------------


async def test_the_recording_is_linked_as_soon_as_the_stream_starts(settings, live, callee_audio, monkeypatch):
    enqueued: list[tuple] = []
    monkeypatch.setattr("extraction.services.async_task", lambda *args, **kwargs: enqueued.append(args))
    async with answered_call(settings, live) as (server, call, twilio):
        await server.wait_for("session.update")
        await twilio.stream(callee_audio[: FRAME * 50])
        linked = await fresh(call)
        # A web process killed now still leaves the call pointing at its (partial, valid) recording.
        assert linked.recording.name.endswith(f"{call.twilio_sid}.wav")
        await async_wait_for(lambda: wav_of(linked).getnframes() > 0, what="the first flush")
        assert enqueued == []
        await twilio.stop()
