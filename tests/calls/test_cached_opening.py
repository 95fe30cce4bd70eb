"""The cached opening: rendered once per text, voice and model through the (fake) speech endpoint, played the moment
the stream starts (before OpenAI has even answered the handshake), given to the model as an assistant item; and the
first-words metric, stored on the call and shown on its page and in the API."""
from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import numpy as np
import openai
import pytest
import requests
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.urls import reverse

from calls.agent_config import load_agent_config
from calls.live.relay import mulaw
from calls.live.relay.cached_opening import OPENING_ITEM_ID
from calls.models import Call
from calls.opening_audio import cacheable, opening_audio_render_profile, opening_line
from tests.factories import CallFactory
from tests.calls.test_consumers import FRAME, TwilioStream, dial, events_of, fresh, wav_of
from tests.calls.test_consumers import callee_audio, live  # noqa: F401 (fixtures)
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.openai_rest import SPEECH, SPEECH_MS_PER_CHAR, OpenAIRestFake, speech_pitch
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def speech(settings):
    with OpenAIRestFake() as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = fake.api_key
        yield fake


def opening_text(settings) -> str:
    return load_agent_config(settings.AI_CONFIG_DIR).agent.opening()


def pitch(audio: bytes) -> float:
    samples = np.frombuffer(mulaw.decode(audio), dtype="<i2").astype(float)
    crossings = np.count_nonzero(np.signbit(samples[1:]) != np.signbit(samples[:-1]))
    return crossings * 8000 / (2 * len(samples))


# ---- which lines, rendered how -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Hola, le llamo de la agencia.", True),
    ("Hola {contact_name}, le llamo de la agencia.", False),
    ("Hola }{", False),
    ("   ", False),
])
def test_only_a_line_without_variables_is_cacheable(text, expected):
    assert cacheable(text) is expected


def test_a_line_is_rendered_once_in_the_bot_voice_and_kept_private(settings, speech):
    path = opening_audio_render_profile("")
    text = opening_text(settings)
    [request] = speech.of(SPEECH)
    assert request.status == 200
    assert request.fields == {"model": settings.OPENAI_TTS_MODEL, "voice": settings.OPENAI_AUDIO_VOICE,
                              "input": text, "response_format": "pcm"}
    audio = path.read_bytes()
    assert abs(len(audio) - len(text) * SPEECH_MS_PER_CHAR * 8) <= 8  # 8 kHz mu-law: 8 bytes a millisecond
    assert pitch(audio) == pytest.approx(speech_pitch(settings.OPENAI_AUDIO_VOICE), rel=0.05)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert path.is_relative_to(Path(settings.MEDIA_ROOT) / "openings")

    assert opening_audio_render_profile("") == path  # already there: not rendered again
    assert len(speech.of(SPEECH)) == 1


def test_a_changed_voice_or_text_is_rendered_again(settings, speech, ai_copy):
    first = opening_audio_render_profile("")
    settings.OPENAI_AUDIO_VOICE = "sage"
    by_voice = opening_audio_render_profile("")
    assert by_voice != first and pitch(by_voice.read_bytes()) == pytest.approx(speech_pitch("sage"), rel=0.05)
    agent = ai_copy / "prompts" / "agent.yaml"
    agent.write_text(agent.read_text(encoding="utf-8").replace("Hola, buenas.", "Buenos días."), encoding="utf-8")
    by_text = opening_audio_render_profile("")
    assert by_text not in (first, by_voice)
    lines = [r.fields["input"] for r in speech.of(SPEECH)]  # the disclosure, then the line
    assert [line.split(". ", 1)[1][:12] for line in lines] == ["Hola, buenas", "Hola, buenas", "Buenos días."]
    assert [r.fields["voice"] for r in speech.of(SPEECH)] == ["coral", "sage", "sage"]


def test_a_line_with_variables_is_never_rendered(settings, speech, ai_copy):
    agent = ai_copy / "prompts" / "agent.yaml"
    agent.write_text(agent.read_text(encoding="utf-8").replace("Hola, buenas.", "Hola, {{contact.name}}."),
                     encoding="utf-8")
    assert opening_line(load_agent_config(ai_copy)) is None
    assert opening_audio_render_profile("") is None
    assert speech.of(SPEECH) == []


def test_a_render_is_queued_once_per_line_and_again_if_it_never_came(settings, speech, q_sync, monkeypatch):
    from calls import opening_audio

    monkeypatch.setattr(opening_audio, "_queued", {})
    speech.fail_next(SPEECH, 1, status=503)  # the first render fails on the worker
    line = opening_line(load_agent_config(settings.AI_CONFIG_DIR))
    with pytest.raises(openai.InternalServerError):  # q2's sync mode runs the task inline: its error shows here
        opening_audio.opening_audio_enqueue(line)
    opening_audio.opening_audio_enqueue(line)  # the next call, soon after: not queued twice
    assert len(speech.of(SPEECH)) == 1 and not line.path.exists()
    opening_audio._queued[line.key] -= opening_audio.RENDER_REQUEUE_S  # a while later, still no file
    opening_audio.opening_audio_enqueue(line)
    assert len(speech.of(SPEECH)) == 2 and line.path.exists()


def test_the_command_renders_every_profile(settings, speech, capsys):
    call_command("render_openings")
    out = capsys.readouterr().out
    assert "(default): " in out and "ventas: " in out
    assert len(speech.of(SPEECH)) == 2
    assert {r.fields["input"] for r in speech.of(SPEECH)} == {
        opening_text(settings), load_agent_config(settings.AI_CONFIG_DIR, "ventas").agent.opening()}


@pytest.mark.parametrize("change, param", [
    ({"voice": "darth"}, "voice"), ({"model": "gpt-4o"}, "model"), ({"input": ""}, "input"),
    ({"response_format": "ulaw"}, "response_format"), ({"speed": 9}, "speed"), ({"sample_rate": 8000}, "sample_rate"),
    ({"model": "tts-1", "instructions": "warm"}, "instructions"),
])
def test_the_fake_speech_endpoint_refuses_what_the_service_refuses(speech, change, param):
    body = {"model": "gpt-4o-mini-tts", "voice": "coral", "input": "Hola.", "response_format": "pcm", **change}
    response = requests.post(f"{speech.base_url}/audio/speech", json=body,
                          headers={"Authorization": f"Bearer {speech.api_key}"})
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    unauthorized = requests.post(f"{speech.base_url}/audio/speech", json={**body, **{"voice": "coral"}},
                              headers={"Authorization": "Bearer sk-wrong"})
    assert unauthorized.status_code == 401


# ---- on a live call ----------------------------------------------------------------------------------------------


async def _answer(settings, twilio_rest, server: FakeRealtimeServer, *,
                  echo_marks: bool = True) -> tuple[Call, TwilioStream]:
    settings.OPENAI_REALTIME_BASE_URL = f"ws://127.0.0.1:{server.port}/v1"
    call, token = await dial(twilio_rest)
    twilio = TwilioStream(call.twilio_sid, token, echo_marks=echo_marks)
    assert (await twilio.open())[0]
    await twilio.start()
    return call, twilio


async def test_the_cached_opening_plays_before_openai_has_even_answered(
        settings, live, speech, callee_audio):  # noqa: F811
    rendered = (await sync_to_async(opening_audio_render_profile)("")).read_bytes()
    scenario = RealtimeScenario(api_key=speech.api_key, replies=[Reply("Perfecto, ¿en qué zona?", audio_ms=400)],
                                callee_turns=[CalleeTurn(after_ms=300, speech_ms=600)])
    async with FakeRealtimeServer(scenario, connect_delay_s=1.0) as server:
        call, twilio = await _answer(settings, live, server)
        await async_wait_for(lambda: twilio.of_event("media"), what="the first bot audio")
        assert server.handshakes == [] and server.sessions == []  # OpenAI has not answered the handshake yet
        await async_wait_for(lambda: len(twilio.bot_audio()) == len(rendered), what="the whole opening")
        assert twilio.bot_audio() == rendered
        assert twilio.of_event("mark")  # marked like any bot audio

        [update] = await server.wait_for("session.update")
        [item] = await server.wait_for("conversation.item.create")
        assert item["item"] == {"id": OPENING_ITEM_ID, "type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": opening_text(settings)}]}
        assert server.of_type("response.create") == []  # the model does not say it again
        await twilio.stream(callee_audio[: FRAME * 150])  # the callee answers after the opening
        await async_wait_for(lambda: server.responses_done == 1, what="the model's answer to the callee")
        await async_wait_for(lambda: len(twilio.bot_audio()) == len(rendered) + 400 * 8, what="the reply's audio")
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
        await twilio.hang_up()
    assert server.errors == []

    call = await fresh(call)
    assert call.stream_sid == twilio.stream_sid and len(await events_of(call, "stream_started")) == 1
    first_words = call.metrics["first_words_ms"]
    assert call.live_transcript[0] == {"speaker": "bot", "text": opening_text(settings), "start_ms": first_words,
                                       "end_ms": first_words + len(rendered) // 8}
    # The recording's bot side holds the opening, whole, where Twilio played it: on the stream's clock, which no
    # callee frame had moved yet (this phone sends its first one after the opening), from its very start.
    with wav_of(call) as wav:
        bot = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)[:, 1]
    expected = np.frombuffer(mulaw.decode(rendered), dtype="<i2")
    start = np.flatnonzero(bot)[0] - np.flatnonzero(expected)[0]
    assert 0 <= start < 20 * 8
    heard = bot[start: start + len(expected)]  # the recording ends with the stream (3 s of it here)
    assert len(heard) >= 2 * 8000 and np.array_equal(heard, expected[: len(heard)])


async def test_the_callee_speaking_over_the_cached_opening_clears_it(
        settings, live, speech, callee_audio):  # noqa: F811
    rendered = (await sync_to_async(opening_audio_render_profile)("")).read_bytes()
    scenario = RealtimeScenario(api_key=speech.api_key, replies=[Reply("Dígame.", audio_ms=200)],
                                callee_turns=[CalleeTurn(after_ms=400, speech_ms=400)])
    async with FakeRealtimeServer(scenario) as server:
        call, twilio = await _answer(settings, live, server, echo_marks=False)  # nothing of it has played yet
        await async_wait_for(lambda: len(twilio.bot_audio()) == len(rendered), what="the opening")
        await server.wait_for("conversation.item.create")
        await twilio.stream(callee_audio[: FRAME * 60])
        await async_wait_for(lambda: twilio.of_event("clear"), what="the opening cleared at Twilio")
        await async_wait_for(lambda: server.responses_done == 1, what="the model's answer")
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
        await twilio.hang_up()
    assert server.of_type("conversation.item.truncate") == []  # a text item has no audio to cut
    assert server.errors == []
    [barge_in] = await events_of(call, "barge_in")
    assert barge_in.detail["item_id"] == OPENING_ITEM_ID
    assert (await fresh(call)).metrics["barge_ins"] == 1


async def test_a_line_not_rendered_yet_is_said_live_and_queued_for_the_next_calls(
        settings, live, speech, q_sync, monkeypatch):  # noqa: F811
    from calls import opening_audio

    monkeypatch.setattr(opening_audio, "_queued", {})  # an earlier test of this process may have queued this line
    scenario = RealtimeScenario(api_key=speech.api_key, replies=[Reply("Hola, buenas.", audio_ms=200)])
    async with FakeRealtimeServer(scenario) as server:
        call, twilio = await _answer(settings, live, server)
        [create] = await server.wait_for("response.create")
        assert "Hola" in create["response"]["instructions"]  # today's opening: the model says it
        await async_wait_for(lambda: speech.of(SPEECH), what="the render, queued")
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
        await twilio.hang_up()
    line = opening_line(load_agent_config(settings.AI_CONFIG_DIR))
    await async_wait_for(line.path.exists, what="the rendered line")
    assert server.of_type("conversation.item.create") == []
    assert isinstance((await fresh(call)).metrics["first_words_ms"], int)


# ---- the metric, shown -------------------------------------------------------------------------------------------


def test_first_words_show_on_the_call_page_and_in_the_api(admin_client):
    call = CallFactory(twilio_sid="CA" + "1" * 32, metrics={"duration_ms": 5000, "first_words_ms": 23})
    page = admin_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    assert "First words" in page and "23 ms" in page
    assert admin_client.get(reverse("call-detail", args=[call.twilio_sid])).json()["first_words_ms"] == 23
    Call.objects.filter(pk=call.pk).update(metrics={})
    assert admin_client.get(reverse("call-detail", args=[call.twilio_sid])).json()["first_words_ms"] is None


# ---- the fake Realtime server's side of it -----------------------------------------------------------------------


@pytest.mark.parametrize("content, accepted", [
    ({"type": "output_text", "text": "Hola, buenas."}, True),
    ({"type": "input_text", "text": "Hola, buenas."}, False),  # the assistant's words are output, not input
])
async def test_the_fake_takes_what_the_assistant_said_only_in_the_ga_shape(content, accepted):
    from openai import AsyncOpenAI

    async with FakeRealtimeServer() as server:
        sdk = AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)
        async with sdk.realtime.connect(model="gpt-realtime-mini") as conn:
            await conn.send({"type": "conversation.item.create", "item": {
                "id": OPENING_ITEM_ID, "type": "message", "role": "assistant", "content": [content]}})
            async for event in conn:
                if event.type in {"conversation.item.added", "error"}:
                    break
    assert (event.type == "conversation.item.added") is accepted
    if accepted:
        assert event.item.id == OPENING_ITEM_ID and event.item.role == "assistant"
