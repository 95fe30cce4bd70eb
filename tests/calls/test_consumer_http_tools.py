"""HTTP tools and the keypad through the real consumer: the fake OpenAI Realtime server (checking GA shapes) makes
the model call a tool whose endpoint is a local fake business that verifies the signature and takes 2 s; the
callee's audio and the bot's filler keep flowing meanwhile; keys pressed reach the model as user items."""
from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest

from calls.models import CallEvent
from tests.calls.test_consumers import FRAME, answered_call, callee_audio, events_of, live  # noqa: F401 (fixtures)
from tests.fakes.business import FakeBusiness
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "tools-signing-secret"
ARGUMENTS = {"date": "2026-12-01"}
FILLER = "Un momento, lo compruebo."


def with_http_tool(ai_copy, url: str, *, profiles: str = "") -> None:
    tools = ai_copy / "tools" / "tools.yaml"
    tools.write_text(tools.read_text(encoding="utf-8") + (
        "  - name: check_availability\n    description: Mira si hay visitas libres ese día.\n"
        "    parameters: {type: object, properties: {date: {type: string}}, required: [date]}\n"
        f"    http: {{url: '{url}', headers: {{Authorization: 'env:CRM_TOKEN'}}, timeout: 4}}\n"
        + (f"    profiles: [{profiles}]\n" if profiles else "")), encoding="utf-8")


def calling_the_tool() -> RealtimeScenario:
    return RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="¿Hay visitas el martes?")],
        replies=[Reply("Hola.", audio_ms=200), Reply(tool=("check_availability", ARGUMENTS)),
                 Reply(FILLER, audio_ms=600), Reply("Sí, el martes a las diez.", audio_ms=200)])


@pytest.fixture
def tools_env(settings, monkeypatch, ai_copy):
    settings.TOOLS_SIGNING_SECRET = SECRET
    monkeypatch.setenv("CRM_TOKEN", "Bearer crm-123")
    return ai_copy


@asynccontextmanager
async def business_call(settings, live, ai_copy, business: FakeBusiness):  # noqa: F811
    with_http_tool(ai_copy, business.url("/availability"))
    async with answered_call(settings, live, calling_the_tool()) as (server, call, twilio):
        yield server, call, twilio


def tool_outputs(server) -> list[dict]:
    return [json.loads(event["item"]["output"]) for event in server.of_type("conversation.item.create")
            if event["item"]["type"] == "function_call_output"]


class Stream:
    """The callee's audio, paced like Twilio's (20 ms a frame), counting what was sent."""

    def __init__(self, twilio, audio: bytes) -> None:
        self.twilio, self.audio, self.sent = twilio, audio, 0

    async def run(self) -> None:
        for offset in range(0, len(self.audio) - FRAME + 1, FRAME):
            await self.twilio.send(self.twilio.framer.media(self.sent * 20, self.audio[offset:offset + FRAME]))
            self.sent += 1
            await asyncio.sleep(0.02)


async def test_a_slow_http_tool_answers_while_audio_keeps_flowing_and_the_bot_says_the_filler(
        settings, live, callee_audio, tools_env):  # noqa: F811
    async with FakeBusiness(secret=SECRET, answer={"free": ["martes 10:00"]}, delay_s=2) as business:
        async with business_call(settings, live, tools_env, business) as (server, call, twilio):
            stream = Stream(twilio, callee_audio[: FRAME * 175])  # 3.5 s, the tool's 2 s in the middle

            def moment() -> tuple[int, int, int]:
                """(callee frames sent, appended at OpenAI, bot frames at Twilio) now."""
                return stream.sent, len(server.of_type("input_audio_buffer.append")), len(twilio.of_event("media"))

            at_answer: list[tuple[int, int, int]] = []
            business.on_answer = lambda: at_answer.append(moment())
            streaming = asyncio.create_task(stream.run())
            await business.received.wait()
            at_request = moment()
            await streaming
            await async_wait_for(lambda: len(server.of_type("response.create")) == 3, what="the answer's response")
            await twilio.stop()

    [(sent_1, appended_1, bot_1)] = at_answer
    sent_0, appended_0, bot_0 = at_request
    assert sent_1 - sent_0 >= 50, "the callee kept talking while the tool ran"
    # The relay fell no further behind the callee while the tool ran: every frame went on as it came.
    assert sent_1 - appended_1 <= (sent_0 - appended_0) + 2
    assert bot_1 > bot_0, "the filler's audio reached the callee before the tool answered"

    kinds = [(event["type"], event.get("item", {}).get("type"), event.get("response", {}).get("instructions", ""))
             for event in server.received if event["type"] in ("response.create", "conversation.item.create")]
    filler = next(i for i, (kind, _, text) in enumerate(kinds) if kind == "response.create" and FILLER in text)
    output = kinds.index(("conversation.item.create", "function_call_output", ""))
    assert filler < output and kinds[-1] == ("response.create", None, "")
    assert tool_outputs(server) == [{"free": ["martes 10:00"]}]
    assert server.errors == []

    [request] = business.requests
    assert request.json == {"tool": "check_availability", "arguments": ARGUMENTS, "call": {
        "sid": call.twilio_sid, "contact_id": call.contact_id, "phone": call.phone_number, "campaign_id": None}}
    assert request.headers["Authorization"] == "Bearer crm-123" and business.refused == []
    [event] = await events_of(call, CallEvent.Kind.TOOL_CALLED)
    assert (event.detail["name"], event.detail["arguments"], event.detail["result"]) == (
        "check_availability", ARGUMENTS, {"free": ["martes 10:00"]})
    assert event.detail["filler"] is True and event.detail["duration_ms"] >= 2000


@pytest.mark.parametrize(("status", "error"), [
    (500, "check_availability failed: its service answered HTTP 500."),
    (None, "check_availability could not reach its service; it was not done."),
])
async def test_a_failing_http_tool_answers_the_model_a_readable_error_and_the_call_goes_on(
        settings, live, callee_audio, tools_env, status, error):  # noqa: F811
    async with FakeBusiness(secret=SECRET, status=status or 200) as business:
        if status is None:
            await business.__aexit__(None, None, None)  # nobody listens there any more: connection refused
        async with business_call(settings, live, tools_env, business) as (server, call, twilio):
            await twilio.stream(callee_audio[: FRAME * 40])
            await async_wait_for(lambda: tool_outputs(server), what="the tool's answer")
            await server.wait_for("response.create", 2)  # the opening, then the model goes on after the error
            await twilio.stop()

    assert tool_outputs(server) == [{"error": error}]
    [event] = await events_of(call, CallEvent.Kind.TOOL_CALLED)
    assert event.detail["result"] == {"error": error}
    assert server.errors == []


async def test_a_tool_limited_to_another_profile_is_not_offered(settings, live, tools_env):  # noqa: F811
    with_http_tool(tools_env, "https://crm.example.com/a", profiles="ventas")
    async with answered_call(settings, live) as (server, call, twilio):
        [update] = await server.wait_for("session.update")
        await twilio.stop()
    assert "check_availability" not in [tool["name"] for tool in update["session"]["tools"]]


async def test_a_key_pressed_reaches_the_fake_realtime_as_a_ga_user_item(settings, live, callee_audio):  # noqa: F811
    async with answered_call(settings, live) as (server, call, twilio):
        await server.wait_for("response.create")
        await twilio.stream(callee_audio[: FRAME * 10])
        await twilio.dtmf("4")
        await server.wait_for("response.create", 2)
        await twilio.stop()

    [item] = [event["item"] for event in server.of_type("conversation.item.create")]
    assert item == {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "El cliente ha pulsado la tecla 4 del teléfono."}]}
    assert server.errors == []  # the fake checks the GA shape of the item
    assert [event.detail["digit"] for event in await events_of(call, "dtmf")] == ["4"]
