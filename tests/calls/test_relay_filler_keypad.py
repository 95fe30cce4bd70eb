"""The relay's tool filler and keypad, with in-memory doubles: a slow tool has the bot say the filler line (queued
behind the response in flight, never over it, withdrawn if the answer comes first); a key pressed reaches the
model as a user item followed by one response."""
from __future__ import annotations

import asyncio
import json

from calls.live.relay.events import Dtmf, ToolCalled
from calls.live.relay.tool_calls import ToolCall
from tests.calls.test_relay_tools import TOOLS, outputs, started
from tests.fakes.relay_doubles import Harness, function_call, response_created, response_done, settle

FILLER = "Di exactamente: 'Un momento, lo compruebo.'"
KEYPAD = "El cliente ha pulsado la tecla {digit}."


def creates(harness: Harness) -> list[dict]:
    return harness.ai.of_type("response.create")


def filler_requests(harness: Harness) -> list[dict]:
    return [event for event in creates(harness) if FILLER in event.get("response", {}).get("instructions", "")]


def slow_tool() -> tuple[asyncio.Event, object]:
    release = asyncio.Event()

    async def run_tool(call: ToolCall) -> dict:
        await release.wait()
        return {"ok": True}

    return release, run_tool


async def test_a_slow_tool_has_the_bot_say_the_filler_then_answers_after_it(tmp_path):
    release, run_tool = slow_tool()
    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS, filler_after_s=0.05,
                       tool_filler_instruction=FILLER) as harness:
        await started(harness)
        await harness.server(response_created("resp_1"), function_call("do_not_call", {"quote": "basta"}))
        await harness.server(response_done("resp_1"))  # the model's turn with the call ends; the tool runs on
        await asyncio.sleep(0.1)
        await settle()
        assert len(filler_requests(harness)) == 1 and outputs(harness) == []
        await harness.server(response_created("resp_filler"))
        before = len(creates(harness))
        release.set()
        await settle()
        assert json.loads(outputs(harness)[0]["output"]) == {"ok": True}
        assert len(creates(harness)) == before, "no response.create over the filler still being said"
        await harness.server(response_done("resp_filler"))
        assert len(creates(harness)) == before + 1 and "response" not in creates(harness)[-1]
        [event] = harness.events_of(ToolCalled)
        assert event.filler is True


async def test_a_quick_tool_says_no_filler(tmp_path):
    async def run_tool(call: ToolCall) -> dict:
        return {"ok": True}

    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS, filler_after_s=5,
                       tool_filler_instruction=FILLER) as harness:
        await started(harness)
        await harness.server(function_call("do_not_call", {"quote": "basta"}))
        assert outputs(harness) and filler_requests(harness) == []
        assert harness.events_of(ToolCalled)[0].filler is False


async def test_a_filler_still_waiting_its_turn_when_the_answer_comes_is_never_said(tmp_path):
    release, run_tool = slow_tool()
    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS, filler_after_s=0.05,
                       tool_filler_instruction=FILLER) as harness:
        await started(harness)
        await harness.server(response_created("resp_1"), function_call("do_not_call", {"quote": "basta"}))
        await asyncio.sleep(0.1)  # the filler is due, but the model's own response is still going: it waits
        assert harness.relay.responses.waiting == 1
        release.set()
        await settle()
        await harness.server(response_done("resp_1"))
        assert filler_requests(harness) == []
        assert "response" not in creates(harness)[-1]  # the answer's own response went instead
        assert harness.events_of(ToolCalled)[0].filler is False


async def test_without_a_filler_line_a_slow_tool_is_quiet(tmp_path):
    release, run_tool = slow_tool()
    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS, filler_after_s=0.01) as harness:
        await started(harness)
        count = len(creates(harness))
        await harness.server(function_call("do_not_call", {"quote": "basta"}))
        await asyncio.sleep(0.05)
        await settle()
        assert len(creates(harness)) == count
        release.set()


def user_texts(harness: Harness) -> list[str]:
    return [event["item"]["content"][0]["text"] for event in harness.ai.of_type("conversation.item.create")
            if event["item"]["type"] == "message"]


async def test_a_key_pressed_reaches_the_model_as_a_user_item_and_it_answers(tmp_path):
    async with Harness(tmp_path, keypad_message=KEYPAD) as harness:
        await started(harness)
        count = len(creates(harness))
        await harness.frame(harness.framer.dtmf("4"))
        [item] = [event["item"] for event in harness.ai.of_type("conversation.item.create")]
        assert item == {"type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "El cliente ha pulsado la tecla 4."}]}
        assert len(creates(harness)) == count + 1
        assert harness.events_of(Dtmf)[0].digit == "4"


async def test_keys_pressed_while_the_bot_speaks_share_one_response_after_it(tmp_path):
    async with Harness(tmp_path, keypad_message=KEYPAD) as harness:
        await started(harness)
        await harness.server(response_created("resp_1"))
        count = len(creates(harness))
        for digit in "123":
            await harness.frame(harness.framer.dtmf(digit))
        assert user_texts(harness) == [f"El cliente ha pulsado la tecla {digit}." for digit in "123"]
        assert len(creates(harness)) == count
        await harness.server(response_done("resp_1"))
        assert len(creates(harness)) == count + 1


async def test_with_the_keypad_off_a_key_only_goes_on_the_timeline(tmp_path):
    async with Harness(tmp_path, keypad_message="") as harness:
        await started(harness)
        count = len(creates(harness))
        await harness.frame(harness.framer.dtmf("4"))
        assert user_texts(harness) == [] and len(creates(harness)) == count
        assert [event.digit for event in harness.events_of(Dtmf)] == ["4"]
