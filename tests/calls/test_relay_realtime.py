"""The relay against the fake OpenAI Realtime server, over a real socket, through the real `openai` SDK."""
from __future__ import annotations

import asyncio
import json
import wave
from typing import Any

from openai import AsyncOpenAI

from calls.agent_config import load_agent_config, relay_settings
from calls.live.relay import Recorder, Relay
from calls.live.relay.events import AiUnavailable, BargeIn, RelayEvent, StreamEnded, TokenUsage
from calls.live.relay.mulaw import tone
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.polling import async_wait_for
from simulator.twilio_frames import STREAM_SID, TOKEN, TwilioFrames

FRAMES = TwilioFrames()


class TwilioSide:
    """Plays what the relay sends back at once, echoing each mark like Twilio once 'played'."""

    def __init__(self, *, echo_marks: bool = True) -> None:
        self.echo_marks = echo_marks
        self.frames: list[dict[str, Any]] = []
        self.hung_up = asyncio.Event()
        self.hang_ups: list[str] = []
        self.events: list[RelayEvent] = []
        self.relay: Relay | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        if frame["event"] == "mark" and self.echo_marks:
            mark = FRAMES.mark(frame["mark"]["name"])
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.relay.handle_twilio_frame(json.dumps(mark))))

    async def on_event(self, event: RelayEvent) -> None:
        self.events.append(event)

    async def hang_up(self, reason: str) -> None:
        self.hang_ups.append(reason)
        self.hung_up.set()


async def open_relay(server: FakeRealtimeServer, tmp_path, twilio: TwilioSide) -> tuple[Relay, Any]:
    client = AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)
    conn = await client.realtime.connect(model="gpt-realtime-mini").enter()
    settings = relay_settings(load_agent_config(), voice="coral", transcription_model="whisper-1", language="es",
                              duration_limit_s=0)
    relay = Relay(send_to_twilio=twilio.send, realtime=conn, settings=settings,
                  recorder=Recorder(tmp_path / "call.wav"), on_event=twilio.on_event, hang_up=twilio.hang_up,
                  tick_s=0.05)
    twilio.relay = relay
    return relay, conn


async def stream_callee(relay: Relay, seconds: float) -> None:
    frame = tone(20, 200)
    for n in range(int(seconds * 50)):
        await relay.handle_twilio_frame(json.dumps(FRAMES.media(n * 20, frame)))
        await asyncio.sleep(0.001)


async def test_a_call_runs_through_the_sdk_until_the_bot_hangs_up(tmp_path):
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=600, speech_ms=800, transcript="Busco piso en Madrid."),
                      CalleeTurn(after_ms=2000, speech_ms=400, transcript="Eso es todo, gracias.")],
        replies=[Reply("Hola, buenas.", audio_ms=400), Reply("¿Cuál es su presupuesto?", audio_ms=400),
                 Reply(end_call="informacion_completa"), Reply("Gracias, adiós.", audio_ms=400)])
    async with FakeRealtimeServer(scenario) as server:
        twilio = TwilioSide()
        relay, _ = await open_relay(server, tmp_path, twilio)
        run = asyncio.create_task(relay.run())
        await relay.handle_twilio_frame(json.dumps(FRAMES.start({"token": TOKEN})))
        await stream_callee(relay, 3.0)
        await asyncio.wait_for(twilio.hung_up.wait(), 5)
        await relay.handle_twilio_frame(json.dumps(FRAMES.stop()))
        assert await asyncio.wait_for(run, 5) == "bot_hangup"

    assert server.errors == [], server.errors  # everything the relay sent was valid GA
    kinds = [event["type"] for event in server.received]
    assert kinds[:2] == ["session.update", "response.create"]
    assert {"input_audio_buffer.append", "conversation.item.create"} <= set(kinds)
    assert twilio.hang_ups == ["bot_hangup"]
    said = [(turn.speaker, turn.text) for turn in relay.transcript.turns]
    assert ("callee", "Busco piso en Madrid.") in said and ("bot", "Gracias, adiós.") in said
    usage = next(event for event in twilio.events if isinstance(event, TokenUsage))
    assert usage.responses == 4 and usage.tokens["total_tokens"] == 4 * 1460
    with wave.open(str(tmp_path / "call.wav")) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() >= 3 * 8000 - 320


async def test_it_ends_with_ai_unavailable_when_the_service_drops(tmp_path):
    async with FakeRealtimeServer(RealtimeScenario(drop_after_responses=1)) as server:
        twilio = TwilioSide()
        relay, _ = await open_relay(server, tmp_path, twilio)
        run = asyncio.create_task(relay.run())
        await relay.handle_twilio_frame(json.dumps(FRAMES.start({"token": TOKEN})))
        assert await asyncio.wait_for(run, 5) == "ai_unavailable"
        await stream_callee(relay, 0.2)  # Twilio frames after the drop are harmless
        await relay.close("callee_hangup")
    assert any(isinstance(event, AiUnavailable) for event in twilio.events)
    assert [event for event in twilio.events if isinstance(event, StreamEnded)][0].reason == "ai_unavailable"


async def test_a_barge_in_truncates_the_item_the_service_knows(tmp_path):
    scenario = RealtimeScenario(callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="Perdone")],
                                replies=[Reply("Hola, buenas, le llamo de la agencia.", audio_ms=2000)])
    async with FakeRealtimeServer(scenario) as server:
        twilio = TwilioSide(echo_marks=False)  # nothing is ever confirmed as played: all still queued
        relay, _ = await open_relay(server, tmp_path, twilio)
        run = asyncio.create_task(relay.run())
        await relay.handle_twilio_frame(json.dumps(FRAMES.start({"token": TOKEN})))
        await async_wait_for(lambda: any(frame["event"] == "media" for frame in twilio.frames),
                             what="the bot's first audio at Twilio")
        await stream_callee(relay, 0.4)
        truncate = (await server.wait_for("conversation.item.truncate"))[0]
        await relay.close("callee_hangup")
        await run
    assert server.errors == []  # the item exists and audio_end_ms is within its audio
    assert {"event": "clear", "streamSid": STREAM_SID} in twilio.frames
    assert 0 <= truncate["audio_end_ms"] < 2000
    assert [type(event) for event in twilio.events].count(BargeIn) == 1
