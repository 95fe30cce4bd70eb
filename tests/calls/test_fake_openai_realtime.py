"""The fake OpenAI Realtime server, through the real `openai` SDK: it answers and rejects like the service."""
from __future__ import annotations

import base64

import pytest
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosedError

from calls.live.relay.mulaw import tone
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply

MODEL = "gpt-realtime-mini"
PCMU_SESSION = {"type": "realtime", "output_modalities": ["audio"], "audio": {
    "input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad", "threshold": 0.9}},
    "output": {"format": {"type": "audio/pcmu"}, "voice": "coral"}}}


def client(server: FakeRealtimeServer, api_key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=api_key or server.api_key, base_url=server.base_url, max_retries=0)


async def next_of(conn, kind: str):
    async for event in conn:
        if event.type == kind:
            return event
    raise AssertionError(f"connection ended before {kind}")


async def test_it_speaks_the_ga_handshake_and_session_update():
    async with FakeRealtimeServer() as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            assert (await conn.recv()).type == "session.created"
            await conn.send({"type": "session.update", "session": PCMU_SESSION})
            updated = await next_of(conn, "session.updated")
    assert updated.session.audio.input.format.type == "audio/pcmu"
    handshake = server.handshakes[0]
    assert handshake["path"] == f"/v1/realtime?model={MODEL}"
    assert handshake["authorization"] == f"Bearer {server.api_key}" and "openai-beta" not in handshake
    assert server.errors == []


@pytest.mark.parametrize("scenario_kwargs, api_key", [({}, "sk-wrong"), ({"refuse_connections": True}, None)])
async def test_it_refuses_a_wrong_key_or_on_cue(scenario_kwargs, api_key):
    async with FakeRealtimeServer(RealtimeScenario(**scenario_kwargs)) as server:
        with pytest.raises(Exception, match="HTTP (401|503)"):
            await client(server, api_key).realtime.connect(model=MODEL).enter()
    assert server.refused == 1 and server.sessions == []


@pytest.mark.parametrize("event, code", [
    ({"type": "session.update", "session": {"type": "realtime", "input_audio_format": "g711_ulaw"}},
     "unknown_parameter"),
    ({"type": "session.update", "session": {"modalities": ["audio", "text"]}}, "missing_required_parameter"),
    ({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "threshold": 3}}}}}, "invalid_value"),
    ({"type": "response.audio.delta", "delta": ""}, "invalid_value"),
    ({"type": "input_audio_buffer.append"}, "missing_required_parameter"),
    ({"type": "input_audio_buffer.append", "audio": "not base64!"}, "invalid_value"),
    ({"type": "conversation.item.truncate", "item_id": "item_nope", "content_index": 0, "audio_end_ms": 10},
     "item_not_found"),
    ({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_x",
                                                    "output": "{}"}}, "invalid_value"),
])
async def test_it_rejects_what_the_service_would(event, code):
    async with FakeRealtimeServer() as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            await conn.send(event)
            error = await next_of(conn, "error")
    assert error.error.code == code
    assert server.received == [event]


async def test_it_refuses_a_second_response_while_one_is_active():
    async with FakeRealtimeServer(RealtimeScenario(replies=[Reply(audio_ms=2000, chunk_ms=20)])) as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            await conn.send({"type": "response.create"})
            await next_of(conn, "response.created")
            await conn.send({"type": "response.create"})
            error = await next_of(conn, "error")
    assert error.error.code == "conversation_already_has_active_response"


async def test_it_plays_the_script_vad_transcript_reply_and_end_call():
    scenario = RealtimeScenario(callee_turns=[CalleeTurn(after_ms=100, speech_ms=200, transcript="Hola")],
                                replies=[Reply(transcript="¿Qué busca?", audio_ms=400), Reply(end_call="otro")])
    async with FakeRealtimeServer(scenario) as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            await conn.send({"type": "session.update", "session": PCMU_SESSION})
            for _ in range(20):
                await conn.send({"type": "input_audio_buffer.append",
                                 "audio": base64.b64encode(tone(20)).decode()})
            seen, audio = [], b""
            async for event in conn:
                seen.append(event.type)
                if event.type == "response.output_audio.delta":
                    audio += base64.b64decode(event.delta)
                if event.type == "response.done":
                    break
            await conn.send({"type": "response.create"})
            call = await next_of(conn, "response.function_call_arguments.done")
    for kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                 "conversation.item.input_audio_transcription.completed", "response.output_audio_transcript.done"):
        assert kind in seen
    assert len(audio) == 400 * 8 and len(set(audio)) > 10  # real mu-law tone, not silence
    assert (call.name, call.arguments) == ("end_call", '{"reason": "otro"}')


async def test_it_drops_the_connection_on_cue():
    async with FakeRealtimeServer(RealtimeScenario(drop_after_responses=1)) as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            await conn.send({"type": "response.create"})
            with pytest.raises(ConnectionClosedError):
                async for _ in conn:
                    pass


async def test_it_refuses_a_binary_frame():
    async with FakeRealtimeServer() as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            assert (await conn.recv()).type == "session.created"
            await conn.send_raw(b'{"type": "response.create"}')
            error = await next_of(conn, "error")
    assert error.error.code == "invalid_json" and "text frame" in error.error.message
    assert server.received == []


def _scripted(words: str) -> RealtimeScenario:
    return RealtimeScenario(callee_turns=[CalleeTurn(after_ms=300, speech_ms=200, transcript=f"soy {words}")],
                            replies=[Reply(transcript=f"Hola {words}", audio_ms=40, chunk_ms=20)])


async def _a_call(server: FakeRealtimeServer, callee_audio: bytes) -> tuple[str, str]:
    """A session that asks for the opening at once, then streams `callee_audio` in 20 ms appends: the opening's
    transcript and the callee's transcribed turn."""
    async with client(server).realtime.connect(model=MODEL) as conn:
        await conn.send({"type": "session.update", "session": PCMU_SESSION})
        await conn.send({"type": "response.create"})
        for start in range(0, len(callee_audio), 160):
            await conn.send({"type": "input_audio_buffer.append",
                             "audio": base64.b64encode(callee_audio[start:start + 160]).decode()})
        opening, heard = "", ""
        async for event in conn:
            if event.type == "response.output_audio_transcript.done" and not opening:
                opening = event.transcript
            if event.type == "conversation.item.input_audio_transcription.completed":
                heard = event.transcript
            if opening and heard:
                return opening, heard
    raise AssertionError("the session ended early")


async def test_each_callee_voice_plays_its_own_script_and_other_audio_the_default():
    voices = {330.0: _scripted("Ana"), 880.0: _scripted("Luis")}
    async with FakeRealtimeServer(_scripted("nadie"), voices=voices) as server:
        ana = await _a_call(server, tone(600, 331.0))  # within 3 %: Ana's voice
        luis = await _a_call(server, tone(600, 880.0))
        nobody = await _a_call(server, tone(600, 600.0))  # a tone no script names
        noise = await _a_call(server, bytes(range(256)) * 19)  # not a tone: energy at every frequency
        silence = await _a_call(server, b"\xff" * 4800)
    assert ana == ("Hola Ana", "soy Ana") and luis == ("Hola Luis", "soy Luis")
    assert nobody == noise == silence == ("Hola nadie", "soy nadie")
    assert server.voices_heard == [330.0, 880.0, None, None, None]
    assert server.errors == []


async def test_without_voices_the_opening_does_not_wait_for_audio():
    async with FakeRealtimeServer(_scripted("todos")) as server:
        async with client(server).realtime.connect(model=MODEL) as conn:
            await conn.send({"type": "response.create"})
            done = await next_of(conn, "response.output_audio_transcript.done")
    assert done.transcript == "Hola todos" and server.voices_heard == []
