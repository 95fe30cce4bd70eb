"""A live call of a campaign with an agent profile speaks with that profile's files; any other call with AI/'s."""
from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async

from calls.agent_config import load_agent_config
from calls.models import CallEvent
from calls.services import place_call
from campaigns.models import Campaign
from tests.calls.test_consumers import TwilioStream, live, realtime  # noqa: F401 (live: a fixture)
from simulator.openai_realtime import RealtimeScenario, Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def session_of(settings, fake_twilio, campaign: Campaign | None) -> tuple[dict, dict]:
    """Place a call (of `campaign`), answer it and return the session.update and opening response.create OpenAI got."""
    session, opening, _ = await call_session(settings, fake_twilio, campaign=campaign)
    return session, opening


async def call_session(settings, fake_twilio, *, campaign: Campaign | None = None) -> tuple[dict, dict, object]:
    """Place a call to +34600111222 (of `campaign`) and answer it; the session.update and the opening OpenAI got,
    and the call."""
    async with realtime(settings, RealtimeScenario(replies=[Reply(audio_ms=200)])) as server:
        call = await sync_to_async(place_call)(phone_number="+34600111222",
                                               campaign_id=campaign.pk if campaign else None)
        _, _, params = fake_twilio.stream_handshake(call.twilio_sid)
        twilio = TwilioStream(call.twilio_sid, params["token"])
        assert (await twilio.open())[0]
        await twilio.start()
        opening = (await asyncio.wait_for(server.wait_for("response.create"), 5))[0]
        [update] = server.of_type("session.update")
        await twilio.hang_up()
        assert server.errors == []
    return update["session"], opening["response"], call


def _values_of(instructions: str) -> dict[str, str]:
    """The clock values a rendered default persona shows (the call's own instant and zone)."""
    today = re.search(r"Hoy es (\S+ \(\w+\))", instructions).group(1)
    local_time, zone = re.search(r"son las (\d\d:\d\d) \(hora local, ([^)]+)\)", instructions).groups()
    assert "{{" not in instructions
    return {"today": today, "local_time": local_time, "time_zone": zone}


async def test_a_call_of_a_campaign_with_a_profile_speaks_with_its_files(settings, live):  # noqa: F811
    campaign = await Campaign.objects.acreate(name="Ventas", profile="ventas", window={})
    session, opening = await session_of(settings, live, campaign)
    ventas, default = load_agent_config(profile="ventas"), load_agent_config()
    assert session["instructions"] == ventas.agent.rendered(_values_of(session["instructions"])).persona
    assert ventas.agent.persona != default.agent.persona
    assert ventas.agent.opening_line in opening["instructions"]
    # Not overridden: AI/'s (transfer_call is offered only with transfer numbers, which AI/ has none of).
    assert session["tools"] == [tool.to_wire() for tool in default.tools if tool.name != "transfer_call"]


@pytest.mark.parametrize("profile", [None, ""])
async def test_a_call_outside_campaigns_or_of_one_without_profile_uses_ai(settings, live, profile):  # noqa: F811
    campaign = None if profile is None else await Campaign.objects.acreate(name="Plain", profile="", window={})
    session, opening = await session_of(settings, live, campaign)
    default = load_agent_config()
    # AI/'s persona, its variables filled in (tests/calls/test_prompt_variables_live.py checks the values)
    assert session["instructions"] == default.agent.rendered(_values_of(session["instructions"])).persona
    assert "{{" not in session["instructions"] and default.agent.opening_line in opening["instructions"]


async def test_a_profile_gone_since_the_campaign_was_saved_ends_the_call_with_an_apology(settings, live):  # noqa: F811
    campaign = await Campaign.objects.acreate(name="Gone", profile="gone", window={})  # its folder was removed
    async with realtime(settings) as server:
        call = await sync_to_async(place_call)(phone_number="+34600111222", campaign_id=campaign.pk)
        _, _, params = live.stream_handshake(call.twilio_sid)
        twilio = TwilioStream(call.twilio_sid, params["token"])
        assert (await twilio.open())[0]
        await twilio.start()
        await asyncio.wait_for(twilio.closed.wait(), 5)
        assert server.of_type("session.update") == []  # never the defaults in its place
    event = await CallEvent.objects.aget(call=call, kind="ai_unavailable")
    assert "No agent profile 'gone'" in event.detail["detail"]
    assert "<Say" in live.calls[call.twilio_sid].twiml_updates[0]  # the built-in apology: no file of that profile reads
