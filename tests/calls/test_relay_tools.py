"""The model's tools other than end_call, in the relay with in-memory doubles: run as tasks off the audio path,
answered with a function_call_output and followed by a response.create; failures and timeouts answered readably."""
from __future__ import annotations

import asyncio
import json

from calls.live.relay import mulaw
from calls.live.relay.events import ToolCalled
from calls.live.relay.tool_calls import ToolCall
from tests.fakes.relay_doubles import Harness, function_call, response_created, response_done, settle, settings

FRAME = mulaw.tone(20)
DNC_TOOL = {"type": "function", "name": "do_not_call", "description": "No llamar",
            "parameters": {"type": "object", "properties": {"quote": {"type": "string"}}}}
TOOLS = (*settings().tools, DNC_TOOL)


async def started(harness: Harness) -> None:
    """The stream starts and the bot's opening response has ended: nothing is in flight."""
    await harness.start()
    await harness.server(response_created("resp_0"), response_done("resp_0"))


def outputs(harness: Harness) -> list[dict]:
    return [event["item"] for event in harness.ai.of_type("conversation.item.create")
            if event["item"]["type"] == "function_call_output"]


async def test_a_slow_tool_does_not_hold_up_the_audio_and_its_answer_is_followed_by_a_response(tmp_path):
    release, calls = asyncio.Event(), []

    async def run_tool(call: ToolCall) -> dict:
        calls.append(call)
        await release.wait()
        return {"ok": True, "noted": call.arguments["quote"]}

    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS) as harness:
        await started(harness)
        await harness.server(response_created("resp_1"),
                             function_call("do_not_call", {"quote": "no me llamen más"}, call_id="fc_9"))
        appended = len(harness.ai.of_type("input_audio_buffer.append"))
        for n in range(5):  # the tool is still running: the callee's audio keeps going to OpenAI
            await harness.media(20 * (n + 1), FRAME)
        assert len(harness.ai.of_type("input_audio_buffer.append")) == appended + 5
        assert outputs(harness) == [] and calls[0].name == "do_not_call"
        creates = len(harness.ai.of_type("response.create"))
        release.set()
        await settle()
        output = outputs(harness)
        assert output[0]["call_id"] == "fc_9"
        assert json.loads(output[0]["output"]) == {"ok": True, "noted": "no me llamen más"}
        # The model's own response (the one with the call) is still active: the new one waits for its end.
        assert len(harness.ai.of_type("response.create")) == creates
        await harness.server(response_done("resp_1"))
        assert len(harness.ai.of_type("response.create")) == creates + 1
        [event] = harness.events_of(ToolCalled)
        assert (event.name, event.arguments, event.result) == (
            "do_not_call", {"quote": "no me llamen más"}, {"ok": True, "noted": "no me llamen más"})


async def test_a_failing_tool_answers_a_readable_error(tmp_path):
    async def run_tool(call: ToolCall) -> dict:
        raise ValueError("the contact is gone")

    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS) as harness:
        await started(harness)
        creates = len(harness.ai.of_type("response.create"))
        await harness.server(function_call("do_not_call", {"quote": "basta"}))
        assert json.loads(outputs(harness)[0]["output"]) == {"error": "do_not_call failed: the contact is gone"}
        assert len(harness.ai.of_type("response.create")) == creates + 1
        assert harness.events_of(ToolCalled)[0].result["error"].endswith("the contact is gone")


async def test_a_tool_that_takes_too_long_answers_a_timeout(tmp_path):
    async def run_tool(call: ToolCall) -> dict:
        await asyncio.sleep(30)
        return {"ok": True}

    async with Harness(tmp_path, run_tool=run_tool, tool_timeout_s=0.05, tools=TOOLS) as harness:
        await started(harness)
        await harness.server(function_call("do_not_call", {"quote": "basta"}))
        await asyncio.sleep(0.1)
        await settle()
        [output] = outputs(harness)
        assert "did not answer within 0.05 s" in json.loads(output["output"])["error"]


async def test_an_undeclared_tool_is_unknown_and_runs_nothing(tmp_path):
    calls = []

    async def run_tool(call: ToolCall) -> dict:
        calls.append(call)
        return {"ok": True}

    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS) as harness:
        await started(harness)
        creates = len(harness.ai.of_type("response.create"))
        await harness.server(function_call("transfer_money", {"amount": 10}))
        assert json.loads(outputs(harness)[0]["output"]) == {"error": "unknown tool"}
        assert calls == [] and harness.events_of(ToolCalled) == []
        assert len(harness.ai.of_type("response.create")) == creates


async def test_without_a_runner_a_declared_tool_is_unknown(tmp_path):
    async with Harness(tmp_path, tools=TOOLS) as harness:
        await started(harness)
        await harness.server(function_call("do_not_call", {"quote": "basta"}))
        assert json.loads(outputs(harness)[0]["output"]) == {"error": "unknown tool"}


async def test_a_tool_still_running_at_the_end_is_waited_for_and_saved_before_the_stream_ends(tmp_path):
    async def run_tool(call: ToolCall) -> dict:
        await asyncio.sleep(0.05)
        return {"ok": True}

    async with Harness(tmp_path, run_tool=run_tool, tools=TOOLS) as harness:
        await started(harness)
        await harness.server(function_call("do_not_call", {"quote": "basta"}))
        await harness.relay.close("callee_hangup")
        names = [type(event).__name__ for event in harness.events]
        assert names.index("ToolCalled") < names.index("StreamEnded")
