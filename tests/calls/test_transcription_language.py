"""MODEL_LANGUAGE=auto: no language goes to speech-to-text, live (session.update) or after the call, so it is
detected from the audio; a fixed language goes as ISO-639-1, which the fakes insist on, as OpenAI does."""
from __future__ import annotations

import asyncio
import json

import pytest
from openai import AsyncOpenAI

from calls.agent_config import load_agent_config, relay_settings
from calls.live.relay import Recorder, Relay
from tests.calls.test_relay_realtime import TwilioSide
from simulator.openai_realtime import FakeRealtimeServer, RealtimeScenario, Reply
from simulator.twilio_frames import TOKEN, TwilioFrames


async def session_sent(tmp_path, language: str) -> tuple[dict, list]:
    """The session.update a relay sends with this transcription language, and what the fake refused."""
    async with FakeRealtimeServer(RealtimeScenario(replies=[Reply("Hola.", audio_ms=100)])) as server:
        client = AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)
        conn = await client.realtime.connect(model="gpt-realtime-mini").enter()
        settings = relay_settings(load_agent_config(), voice="coral", transcription_model="whisper-1",
                                  language=language, duration_limit_s=0)
        twilio = TwilioSide()
        relay = Relay(send_to_twilio=twilio.send, realtime=conn, settings=settings,
                      recorder=Recorder(tmp_path / "call.wav"), on_event=twilio.on_event, hang_up=twilio.hang_up)
        twilio.relay = relay
        run = asyncio.create_task(relay.run())
        await relay.handle_twilio_frame(json.dumps(TwilioFrames().start({"token": TOKEN})))
        update = (await server.wait_for("session.update"))[0]
        await server.wait_for("response.create")
        await relay.close("callee_hangup")
        await asyncio.wait_for(run, 5)
        return update["session"]["audio"]["input"]["transcription"], list(server.errors)


async def test_auto_sends_no_language_and_the_service_accepts_it(tmp_path):
    transcription, errors = await session_sent(tmp_path, "")
    assert transcription == {"model": "whisper-1", "prompt": load_agent_config().transcription.prompt}
    assert errors == []


async def test_a_fixed_language_is_sent_as_iso_639_1(tmp_path):
    transcription, errors = await session_sent(tmp_path, "en")
    assert transcription["language"] == "en" and errors == []


async def test_the_fake_refuses_a_language_openai_would_refuse(tmp_path):
    _, errors = await session_sent(tmp_path, "auto")  # "auto" must never reach OpenAI as a language
    assert errors and "language" in json.dumps(errors)


@pytest.mark.parametrize("value", ["spanish", "ES", "e", "es-ES"])
def test_settings_refuse_a_language_that_is_not_iso_639_1_or_auto(value, monkeypatch):
    import importlib

    import voicebot_site.settings as site_settings
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("MODEL_LANGUAGE", value)
    with pytest.raises(ImproperlyConfigured, match="MODEL_LANGUAGE"):
        importlib.reload(site_settings)
    monkeypatch.delenv("MODEL_LANGUAGE")
    importlib.reload(site_settings)
