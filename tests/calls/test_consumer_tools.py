"""The live call's tools end to end through the real consumer: the fake OpenAI Realtime server makes the model call
do_not_call / schedule_callback, the relay runs them off the audio path, and the database shows what they did."""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from calls.models import Call, CallEvent
from campaigns.models import CampaignContact, ContactState, Outcome
from campaigns.scheduler import campaigns_pass
from contacts.models import Contact
from tests.calls.test_consumers import FRAME, TwilioStream, callee_audio, live, realtime  # noqa: F401 (fixtures)
from tests.campaigns.helpers import campaign_of, end_call, madrid_contacts
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)
MADRID = ZoneInfo("Europe/Madrid")


def scenario_calling(tool: str, arguments: dict) -> RealtimeScenario:
    return RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="...")],
        replies=[Reply("Hola.", audio_ms=200), Reply(tool=(tool, arguments)), Reply("De acuerdo.", audio_ms=200)])


def campaign_call_placed() -> Call:
    campaign = campaign_of(madrid_contacts(1), start=timezone.now())  # a Madrid landline: Europe/Madrid
    assert campaigns_pass(now=timezone.now()) == 1
    return Call.objects.get(campaign=campaign)


@asynccontextmanager
async def campaign_call_answered(settings, live, scenario: RealtimeScenario):  # noqa: F811
    settings.CALLS_PER_SECOND = 100
    async with realtime(settings, scenario) as server:
        call = await sync_to_async(campaign_call_placed)()
        _, _, params = live.stream_handshake(call.twilio_sid)
        twilio = TwilioStream(call.twilio_sid, params["token"])
        assert (await twilio.open())[0]
        await twilio.start()
        yield server, call, twilio
        await twilio.hang_up()


async def tool_output(server) -> dict:
    [item] = [event["item"] for event in await server.wait_for("conversation.item.create")
              if event["item"]["type"] == "function_call_output"]
    return json.loads(item["output"])


def entry_of_call(call: Call) -> CampaignContact:
    return CampaignContact.objects.get(campaign_id=call.campaign_id, contact_id=call.contact_id)


async def test_do_not_call_during_a_call_marks_the_contact_and_settles_its_campaign_run(
        settings, live, callee_audio):  # noqa: F811
    scenario = scenario_calling("do_not_call", {"quote": "No me llamen más."})
    async with campaign_call_answered(settings, live, scenario) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40])
        assert await tool_output(server) == {"ok": True, "result": "No se le volverá a llamar."}
        await server.wait_for("response.create", 2)  # the opening, then the one after the tool's answer
        await twilio.stream(callee_audio[FRAME * 40: FRAME * 60], from_ms=800)  # audio still flows
        await async_wait_for(lambda: len(server.of_type("input_audio_buffer.append")) == 60, what="all audio")
        await twilio.stop()

    contact = await Contact.objects.aget(pk=call.contact_id)
    assert (contact.do_not_call, contact.do_not_call_quote, contact.do_not_call_call_id) == (
        True, "No me llamen más.", call.pk)
    [event] = [e async for e in CallEvent.objects.filter(call=call, kind=CallEvent.Kind.TOOL_CALLED)]
    assert event.detail["name"] == "do_not_call" and event.detail["result"]["ok"] is True
    assert contact.do_not_call_at_ms == event.detail["at_ms"] and 0 < contact.do_not_call_at_ms < 5000
    assert server.errors == []

    await sync_to_async(end_call)(Client(), live, call, "completed", duration=3)
    entry = await sync_to_async(entry_of_call)(call)
    assert (entry.state, entry.outcome) == (ContactState.DONE, Outcome.REFUSED)


async def test_schedule_callback_books_the_next_attempt_at_the_callees_local_time(settings, live, callee_audio):  # noqa: F811
    day = timezone.now().astimezone(MADRID).date() + timedelta(days=2)
    scenario = scenario_calling("schedule_callback", {"date": day.isoformat(), "time": "17:45"})
    async with campaign_call_answered(settings, live, scenario) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40])
        assert await tool_output(server) == {"ok": True, "booked": f"{day.isoformat()} 17:45",
                                             "time_zone": "Europe/Madrid"}
        await server.wait_for("response.create", 2)
        await twilio.stop()

    await sync_to_async(end_call)(Client(), live, call, "completed", duration=3)
    entry = await sync_to_async(entry_of_call)(call)
    assert entry.state == ContactState.PENDING and entry.outcome == ""  # not settled as done
    assert entry.next_attempt_at == datetime.combine(day, time(17, 45), tzinfo=MADRID)
    assert [e.detail["name"] async for e in CallEvent.objects.filter(call=call, kind="tool_called")] == [
        "schedule_callback"]
