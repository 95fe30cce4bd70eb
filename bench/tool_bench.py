"""HTTP tools stay off the audio path: the relay's per-frame latency while a slow HTTP tool runs, against the same
call with no tool, in one invocation.

    .venv/bin/python bench/tool_bench.py --seconds 4 --tool-delay 2

One in-process relay with the in-memory doubles of the tests (real clock). The callee's 20 ms frames go in at
real-time pace, timed from `handle_twilio_frame` to the OpenAI double receiving the append ("up"); the model's
audio comes as one 20 ms delta every 20 ms, timed from the OpenAI double handing it over to the Twilio double
receiving its media frame ("down"). Run A: no tool. Run B: at 0.5 s the model calls an HTTP tool whose endpoint (a
local fake business: real HTTP, signature checked) answers after `--tool-delay` s, and the relay asks for the
filler line meanwhile. A tool on the audio path would show up as a frame held for the tool's whole delay; read the
B/A ratios (machine noise hits both runs alike).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_CRM_TOKEN", "Bearer bench")

from calls.http_tools import HttpEndpoint, http_tool_call  # noqa: E402
from calls.live.relay import mulaw  # noqa: E402
from calls.live.relay.tool_calls import ToolCall  # noqa: E402
from tests.fakes.business import FakeBusiness  # noqa: E402
from tests.fakes.relay_doubles import (  # noqa: E402
    Harness, b64, function_call, response_created, response_done, settings,
)

SECRET = "bench-signing-secret"
TOOL = {"type": "function", "name": "check_availability", "description": "Mira visitas.",
        "parameters": {"type": "object", "properties": {}}}
FRAME = mulaw.tone(20)


async def one_run(seconds: float, tool_delay: float | None) -> tuple[list[float], list[float]]:
    """(up, down) latencies in ms of every frame of one call; with `tool_delay`, a slow HTTP tool runs meanwhile
    (and must have been called, answered within the call and had its filler asked for)."""
    async with FakeBusiness(secret=SECRET, delay_s=tool_delay or 0) as business:
        endpoint = HttpEndpoint(url=business.url("/availability"), headers={"Authorization": "env:BENCH_CRM_TOKEN"})

        async def run_tool(call: ToolCall) -> dict:
            return await http_tool_call(endpoint, name=call.name, arguments=call.arguments, context={},
                                        secret=SECRET)

        with tempfile.TemporaryDirectory() as folder:
            harness = Harness(Path(folder), clock=time.monotonic, run_tool=run_tool,
                              tools=(*settings().tools, TOOL), tool_filler_instruction="Di: un momento.")
            async with harness:
                up, down = await _talk(harness, seconds, tool_delay is not None)
                answers = [event for event in harness.ai.sent if event["type"] == "conversation.item.create"]
                fillers = [event for event in harness.ai.of_type("response.create") if "momento" in str(event)]
    if tool_delay is not None:  # the bench measures what it claims: the tool ran, slow, and answered
        assert len(business.requests) == 1 and len(answers) == 1 and len(fillers) == 1, (business.requests, answers)
    return up, down


class Stamped(list):
    """A list that notes when each item of a kind arrived (the doubles append what they receive)."""

    def __init__(self, key: str, kind: str) -> None:
        super().__init__()
        self.key, self.kind, self.times = key, kind, []

    def append(self, item: dict) -> None:
        if item.get(self.key) == self.kind:
            self.times.append(time.monotonic())
        super().append(item)


async def _talk(harness: Harness, seconds: float, call_tool: bool) -> tuple[list[float], list[float]]:
    harness.ai.sent = appended = Stamped("type", "input_audio_buffer.append")
    harness.to_twilio = played = Stamped("event", "media")
    await harness.start()
    harness.ai.push(response_created("resp_1"))
    up_sent, down_pushed = [], []
    start = time.monotonic()
    for n in range(int(seconds * 50)):
        await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
        if call_tool and n == 25:
            harness.ai.push(function_call("check_availability", {}, call_id="fc_bench"))
            harness.ai.push(response_done("resp_1"))  # the model's turn with the call ends: the filler may go
        frame = json.dumps(harness.framer.media(n * 20, FRAME))
        up_sent.append(time.monotonic())
        await harness.relay.handle_twilio_frame(frame)
        down_pushed.append(time.monotonic())
        harness.ai.push({"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_bot1",
                         "output_index": 0, "content_index": 0, "delta": b64(FRAME)})
    await asyncio.sleep(0.1)
    up = [(got - sent) * 1000 for sent, got in zip(up_sent, appended.times)]
    down = [(got - pushed) * 1000 for pushed, got in zip(down_pushed, played.times)]
    return up, down


def summary(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], ordered[-1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--tool-delay", type=float, default=2.0)
    options = parser.parse_args()
    runs = {"A no tool": await one_run(options.seconds, None),
            f"B tool {options.tool_delay:g} s": await one_run(options.seconds, options.tool_delay)}
    print(f"{'run':<14} {'frames':>6} {'up p50':>8} {'up p99':>8} {'up max':>8} {'dn p50':>8} {'dn p99':>8} "
          f"{'dn max':>8}  (ms)")
    for name, (up, down) in runs.items():
        print(f"{name:<14} {len(up):>6} " + " ".join(f"{value:>8.3f}" for value in (*summary(up), *summary(down))))
    (up_a, down_a), (up_b, down_b) = runs.values()
    ratios = (summary(up_b)[1] / summary(up_a)[1], summary(down_b)[1] / summary(down_a)[1])
    print(f"B/A: up p99 {ratios[0]:.2f}, down p99 {ratios[1]:.2f}; frames A {len(up_a)}/{len(down_a)}, "
          f"B {len(up_b)}/{len(down_b)}")


if __name__ == "__main__":
    asyncio.run(main())
