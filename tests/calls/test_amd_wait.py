"""AMD_GREETING=wait with no verdict: after AMD_WAIT_SECONDS the bot greets anyway, as if detection had said
`unknown`, and the call's timeline says so; a verdict that comes first still decides.

The relay's part with a fake clock (order of events, no waiting); the whole path through the real consumer, with a
verdict that never comes (as across web processes without a shared channel layer) and a 1 s wait."""
from __future__ import annotations

import time

import pytest

from calls.live.relay import mulaw
from calls.live.relay.events import AmdWaitOver, HangUp
from calls.models import CallEvent
from simulator.polling import async_wait_for
from tests.calls.test_consumers import (  # noqa: F401
    answered_call,
    callee_audio,
    events_of,
    fresh,
    live,
    realtime,
)
from tests.calls.test_voicemail import amd, detected, scenario  # noqa: F401
from tests.fakes.relay_doubles import Harness, b64

FRAME = mulaw.tone(20)
NOTE = "no answering-machine verdict after 6 s; greeted"


def greetings(call: Harness) -> list[dict]:
    return [event for event in call.ai.of_type("response.create")
            if event["response"].get("instructions", "").endswith("Saluda.")]


@pytest.fixture
async def waiting(tmp_path):
    async with Harness(tmp_path, wait_for_amd=True, amd_wait_s=6.0) as harness:
        await harness.start()
        yield harness


async def test_without_a_verdict_the_bot_greets_once_the_wait_is_over(waiting):
    waiting.clock.advance(5999)
    await waiting.tick()
    await waiting.media(5900, FRAME)
    assert greetings(waiting) == [] and waiting.ai.of_type("input_audio_buffer.append") == []

    waiting.clock.advance(1)
    await waiting.tick()

    assert len(greetings(waiting)) == 1
    assert waiting.events_of(AmdWaitOver) == [AmdWaitOver(at_ms=6000, waited_s=6.0, note=NOTE)]
    await waiting.media(6000, FRAME)
    assert waiting.ai.of_type("input_audio_buffer.append") == [
        {"type": "input_audio_buffer.append", "audio": b64(FRAME)}], "the callee is heard from then on"
    waiting.clock.advance(60_000)
    await waiting.tick()
    assert len(greetings(waiting)) == 1 and len(waiting.events_of(AmdWaitOver)) == 1, "greeted once"


async def test_a_person_detected_before_the_wait_is_over_is_greeted_once_and_the_wait_forgotten(waiting):
    waiting.clock.advance(2000)
    await waiting.relay.answered_by("human", leave_message=False)
    assert len(greetings(waiting)) == 1

    waiting.clock.advance(10_000)
    await waiting.tick()

    assert len(greetings(waiting)) == 1 and waiting.events_of(AmdWaitOver) == []


async def test_a_machine_detected_before_the_wait_is_over_is_never_greeted(waiting):
    waiting.clock.advance(3000)
    await waiting.relay.answered_by("machine_start", leave_message=False)

    waiting.clock.advance(10_000)
    await waiting.tick()

    assert greetings(waiting) == [] and waiting.events_of(AmdWaitOver) == []
    assert waiting.hang_ups == ["voicemail"] and waiting.events_of(HangUp)[0].reason == "voicemail"


async def test_a_machine_detected_after_the_fallback_greeting_still_stops_the_bot(waiting):
    waiting.clock.advance(6000)
    await waiting.tick()
    assert len(greetings(waiting)) == 1

    waiting.clock.advance(4000)
    await waiting.relay.answered_by("machine_start", leave_message=False)

    assert waiting.hang_ups == ["voicemail"]
    await waiting.media(10_000, FRAME)
    assert waiting.ai.of_type("input_audio_buffer.append") == [], "nothing a machine says is answered"


async def test_the_relays_own_clock_ends_the_wait(tmp_path):
    async with Harness(tmp_path, clock=time.monotonic, wait_for_amd=True, amd_wait_s=0.05) as call:
        await call.start()
        await async_wait_for(lambda: greetings(call), what="the greeting after the wait")
        assert len(call.events_of(AmdWaitOver)) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_call_without_a_verdict_is_greeted_and_its_timeline_says_why(settings, amd, callee_audio):  # noqa: F811
    settings.AMD_WAIT_SECONDS = 1  # no verdict is ever sent: as across web processes with no shared channel layer
    async with answered_call(settings, amd, scenario()) as (server, call, twilio):
        await server.wait_for("session.update")
        opening = (await server.wait_for("response.create"))[0]
        assert "Hola" in opening["response"]["instructions"]
        await twilio.stop()

    [event] = await events_of(call, CallEvent.Kind.AMD)
    assert event.detail["note"] == "no answering-machine verdict after 1 s; greeted"
    assert event.detail["waited_s"] == 1
    assert (await fresh(call)).answered_by == "", "no verdict is invented"


@pytest.mark.django_db(transaction=True)
async def test_a_verdict_through_the_consumer_greets_with_no_no_verdict_entry(settings, amd, callee_audio):  # noqa: F811
    settings.AMD_WAIT_SECONDS = 60
    async with answered_call(settings, amd, scenario()) as (server, call, twilio):
        await server.wait_for("session.update")
        await detected(amd, call, "human")
        await server.wait_for("response.create")
        await twilio.stop()

    kinds = [event.detail async for event in CallEvent.objects.filter(call=call, kind=CallEvent.Kind.AMD)]
    assert kinds == [{"answered_by": "human"}], "the verdict, and no 'no verdict' entry"


@pytest.mark.parametrize("value", [0, 0.5, 61])
def test_an_out_of_range_wait_is_refused_at_start_up(settings, value):
    from django.core import checks

    settings.AMD_WAIT_SECONDS = value
    [error] = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert error.id == "calls.E002" and "AMD_WAIT_SECONDS" in error.msg
