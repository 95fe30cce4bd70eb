"""Answering-machine detection on a live call, through the real consumer: the fake Twilio's signed async AMD callback
reaches the web view, which passes the verdict over the Channels layer to the call's relay. The bot waits for a
person (or greets at once and stops on a machine), leaves the voicemail line in its own voice after the beep, hangs
up once that has played, and the call is neither transcribed nor extracted."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from calls.models import Call
from calls.services import place_call

from tests.calls.test_consumers import (  # noqa: F401 (fixtures)
    FRAME, TwilioStream, answered_call, callee_audio, events_of, fresh, live, realtime, wav_of)
from simulator.openai_realtime import RealtimeScenario, Reply
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)

GREETING, MESSAGE = "Hola, buenas.", "Le dejo un mensaje: le volveremos a llamar."


@pytest.fixture
def amd(settings, live):  # noqa: F811
    settings.AMD_MODE, settings.AMD_ACTION, settings.AMD_GREETING = "DetectMessageEnd", "voicemail", "wait"
    return live


def scenario(*replies: Reply) -> RealtimeScenario:
    return RealtimeScenario(replies=list(replies) or [Reply(GREETING, audio_ms=400)])


async def detected(twilio_fake, call, answered_by: str) -> None:
    response = await twilio_fake.amd_callback(call.twilio_sid, answered_by).apost(AsyncClient())
    assert response.status_code == 200


async def test_waiting_the_bot_is_silent_and_deaf_until_a_person_is_detected(settings, amd, callee_audio):  # noqa: F811
    settings.SILENCE_TIMEOUT = 1  # waiting for the verdict is not the callee's silence: no "are you there?"
    async with answered_call(settings, amd, scenario()) as (server, call, twilio):
        await server.wait_for("session.update")
        await twilio.stream(callee_audio[: FRAME * 20])  # "¿Diga?" while detection runs
        await asyncio.sleep(1.5)
        assert server.of_type("response.create") == [] and twilio.bot_audio() == b""
        assert server.of_type("input_audio_buffer.append") == [], "nothing heard is answered before the verdict"

        await detected(amd, call, "human")

        opening = (await server.wait_for("response.create"))[0]
        assert "Hola" in opening["response"]["instructions"]
        await twilio.stream(callee_audio[FRAME * 20: FRAME * 30], from_ms=400)
        await async_wait_for(lambda: len(server.of_type("input_audio_buffer.append")) == 10, what="audio after")
        await twilio.stop()
    call = await fresh(call)
    assert call.answered_by == "human" and call.end_reason == "callee_hangup"
    with wav_of(call) as wav:
        assert wav.getnframes() == 600 * 8, "what the callee said before the verdict is recorded too"


async def test_after_the_beep_the_bot_leaves_the_message_in_its_own_voice_then_hangs_up(
        settings, amd, callee_audio):  # noqa: F811
    async with answered_call(settings, amd, scenario(Reply(MESSAGE, audio_ms=600)), echo_marks=False) as (
            server, call, twilio):
        await server.wait_for("session.update")
        await twilio.stream(callee_audio[: FRAME * 20])  # the machine's own greeting

        await detected(amd, call, "machine_end_beep")

        [message] = await server.wait_for("response.create")
        voicemail = "le llamamos de la agencia de alquileres"  # AI/prompts/agent.yaml's voicemail line
        assert voicemail in message["response"]["instructions"], "the voicemail line, said by the Realtime voice"
        await async_wait_for(lambda: len(twilio.bot_audio()) == 600 * 8, what="the message's audio")
        await asyncio.sleep(0.3)
        assert not amd.calls[call.twilio_sid].hung_up, "the message's mark has not come back: still playing"
        assert amd.calls[call.twilio_sid].twiml_updates == [], "never Twilio's <Say>"
        for mark in twilio.of_event("mark"):
            await twilio.send(twilio.framer.mark(mark["mark"]["name"]))
        await async_wait_for(lambda: amd.calls[call.twilio_sid].hung_up, what="the hang-up after the message")
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
    assert server.of_type("input_audio_buffer.append") == [], "the machine was never answered"

    await sync_to_async(amd.status_callback(call.twilio_sid, "completed", duration=9).post)(Client())
    call = await fresh(call)
    assert (call.status, call.end_reason, call.answered_by) == ("completed", "voicemail", "machine_end_beep")
    assert call.processing["status"] == "skipped", "no transcription nor extraction for a voicemail"
    assert [e.detail["reason"] for e in await events_of(call, "hang_up")] == ["voicemail"]


async def test_greeting_at_once_stops_and_hangs_up_on_a_machine_start(settings, amd, callee_audio):  # noqa: F811
    settings.AMD_MODE, settings.AMD_GREETING = "Enable", "at_once"
    async with answered_call(settings, amd, scenario(Reply(GREETING, audio_ms=2000, chunk_ms=100)),
                             echo_marks=False) as (server, call, twilio):
        await server.wait_for("response.create")  # greeted at once
        await async_wait_for(lambda: twilio.bot_audio(), what="the greeting's first audio")

        await detected(amd, call, "machine_start")

        await async_wait_for(lambda: amd.calls[call.twilio_sid].hung_up, what="the hang-up")
        assert twilio.of_event("clear"), "the greeting still queued at Twilio was dropped"
        assert len(server.of_type("response.create")) == 1, "no message: with Enable no beep will be reported"
        await twilio.stream(callee_audio[: FRAME * 10])
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
    assert server.of_type("input_audio_buffer.append") == [], "what the machine said after the verdict is not sent"
    call = await fresh(call)
    assert (call.end_reason, call.answered_by) == ("voicemail", "machine_start")


async def test_a_verdict_that_came_before_the_stream_started_is_acted_on_at_start(settings, amd):  # noqa: F811
    call = await sync_to_async(_placed_and_detected)(amd, "human")
    async with realtime(settings, scenario()) as server:
        _, _, params = amd.stream_handshake(call.twilio_sid)
        twilio = TwilioStream(call.twilio_sid, params["token"])
        assert (await twilio.open())[0]
        await twilio.start()
        opening = (await server.wait_for("response.create"))[0]  # the call's row said "human": greeted at start
        assert "Hola" in opening["response"]["instructions"]
        await twilio.hang_up()


def _placed_and_detected(fake, answered_by: str) -> Call:
    call = place_call(phone_number="+34600111333")
    assert fake.amd_callback(call.twilio_sid, answered_by).post(Client()).status_code == 200
    return call


@pytest.mark.parametrize("answered_by, leave_message, action", [
    ("human", True, "greet"), ("unknown", True, "greet"),
    ("machine_end_beep", True, "leave_message"), ("machine_end_silence", True, "leave_message"),
    ("machine_end_beep", False, "hang_up"),  # AMD_ACTION=hangup
    ("machine_start", True, "hang_up"), ("fax", True, "hang_up"),
])
def test_what_the_relay_does_with_each_verdict(answered_by, leave_message, action):
    from calls.live.relay.voicemail import amd_action

    assert amd_action(answered_by, leave_message=leave_message).value == action


@pytest.mark.parametrize("setting, status", [("skip", "skipped"), ("process", "queued")])
def test_voicemail_processing_setting(settings, setting, status):
    from calls.services.streaming import call_stream_finished
    from tests.factories import CallFactory

    settings.VOICEMAIL_PROCESSING = setting
    call = CallFactory(status="completed", end_reason="voicemail")
    call_stream_finished(call_id=call.pk, end_reason="voicemail", recording_name="")
    call.refresh_from_db()
    assert call.processing["status"] == status


@pytest.mark.parametrize("name, value", [
    ("AMD_GREETING", "later"), ("VOICEMAIL_PROCESSING", "never"), ("TRANSFER_DIAL_TIMEOUT", 2)])
def test_a_mistyped_call_setting_is_refused_at_start_up(settings, name, value):
    from django.core import checks

    assert [m.id for m in checks.run_checks() if m.level >= checks.ERROR] == []
    setattr(settings, name, value)
    [error] = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert error.id == "calls.E002" and name in error.msg
