"""First words: how long the callee waits, from Twilio's `start`, to hear the bot; before and after the cached opening.

    .venv/bin/python bench/first_words.py                       # 20 calls per round, connect delays 300 ms and 1 s
    .venv/bin/python bench/first_words.py --calls 50 --delays 0,300,1000

One real Daphne serving the real ASGI app (calls placed through `POST /api/calls/`, FakeTwilio dials, signed
handshake, single-use stream token, recording to disk, SQLite), the fake OpenAI Realtime server (simulator/) with a
connect delay (each handshake answered that late: the real service takes hundreds of ms to seconds), and the fake
OpenAI REST server for the speech endpoint. For each delay, two rounds in the same invocation:
- before: the opening line is not rendered, so the live model says it once its session is open (today's behaviour;
  the call also queues a render, which no worker runs here);
- after: `manage.py render_openings` has rendered it, and the stream plays it at once.
Calls run one at a time (first words is a latency, not a capacity figure). Per round, p50/p99 of
- phone: Twilio's `start` sent -> the first bot `media` received, measured by the phone in this process;
- server: the call's own metric (`first_words_ms` in the API): `start` received -> first bot audio sent.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.openai_realtime import FakeRealtimeServer, RealtimeScenario, Reply  # noqa: E402
from simulator.openai_rest import OpenAIRestFake  # noqa: E402
from simulator.twilio import FakeTwilio  # noqa: E402
from simulator.twilio_frames import TwilioFrames  # noqa: E402
from tests.processes import Stack  # noqa: E402

API_KEY = "sk-bench-first-words"
PUBLIC_BASE_URL = "https://voicebot.example"


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    if not ordered:
        return math_nan(), math_nan()
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def math_nan() -> float:
    return float("nan")


class Deployment:
    def __init__(self, tmp: Path, realtime_port: int, rest: OpenAIRestFake) -> None:
        self.twilio = FakeTwilio(public_base_url=PUBLIC_BASE_URL).start()
        self.stack = Stack(tmp, extra_env={
            **self.twilio.voicebot_env(), "OPENAI_BASE_URL": rest.base_url,
            "OPENAI_REALTIME_BASE_URL": f"ws://127.0.0.1:{realtime_port}/v1", "OPENAI_API_KEY": API_KEY,
            "CALL_DURATION_LIMIT": "0", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off", "DEBUG": "true",
            "LOG_LEVEL": "WARNING", "REDIS_URL": "", "DATABASE_URL": "", "API_THROTTLE_USER": "100000/minute",
            "OPENING_CACHE": "true",
        })
        self.stack.prepare()
        self.stack.base_url = f"http://127.0.0.1:{self.stack.start_daphne()}"
        self.number = 600_000_000

    def _api(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.stack.base_url + path, data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": f"Token {self.stack.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def place(self) -> tuple[str, str, dict[str, str], str]:
        self.number += 1
        sid = self._api("/api/calls/", {"phone_number": f"+34{self.number}"})["call_sid"]
        url, headers, params = self.twilio.stream_handshake(sid)
        ws_url = self.stack.base_url.replace("http://", "ws://") + urlsplit(url).path
        return sid, ws_url, headers, params["token"]

    def first_words_ms(self, sid: str) -> int | None:
        return self._api(f"/api/calls/{sid}/").get("first_words_ms")

    def stop(self) -> None:
        self.stack.stop_all()
        self.twilio.stop()


async def one_call(deployment: Deployment) -> tuple[str, float]:
    """Open one call's stream as Twilio would; returns its SID and the phone's first words (ms)."""
    from websockets.asyncio.client import connect

    sid, url, headers, token = await asyncio.to_thread(deployment.place)
    framer = TwilioFrames(call_sid=sid, stream_sid="MZ" + sid[2:])
    async with connect(url, additional_headers=headers, max_size=None, close_timeout=2) as ws:
        await ws.send(json.dumps(framer.connected()))
        started = time.monotonic()
        await ws.send(json.dumps(framer.start({"token": token})))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["event"] == "media":
                first = (time.monotonic() - started) * 1000
                break
        await ws.send(json.dumps(framer.stop()))
        await asyncio.sleep(0.05)
    return sid, first


async def round_of(deployment: Deployment, calls: int) -> tuple[list[float], list[float]]:
    phone, server = [], []
    for _ in range(calls):
        sid, first = await one_call(deployment)
        phone.append(first)
        for _ in range(100):  # the metric is saved when the stream ends
            measured = await asyncio.to_thread(deployment.first_words_ms, sid)
            if measured is not None:
                server.append(measured)
                break
            await asyncio.sleep(0.05)
    return phone, server


async def bench(calls: int, delays: list[int]) -> None:
    # A cached call often ends while its OpenAI handshake is still delayed: the fake logs that cut handshake.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    scenario = RealtimeScenario(api_key=API_KEY, replies=[Reply("Hola, buenas.", audio_ms=600)])
    tmp = Path(tempfile.mkdtemp(prefix="first-words-"))
    with OpenAIRestFake(api_key=API_KEY) as rest:
        async with FakeRealtimeServer(scenario) as realtime:
            deployment = await asyncio.to_thread(Deployment, tmp, realtime.port, rest)
            try:
                rows = []
                await round_of(deployment, 2)  # warm-up: first imports, first connections
                for cached in (False, True):
                    if cached:
                        await asyncio.to_thread(deployment.stack.manage, "render_openings")
                    for delay in delays:
                        realtime.connect_delay_s = delay / 1000
                        phone, server = await round_of(deployment, calls)
                        rows.append((delay, cached, percentiles(phone), percentiles(server)))
                        print(f"  delay {delay:>5} ms  {'cached' if cached else 'live  '}  phone p50/p99 "
                              f"{rows[-1][2][0]:7.1f} / {rows[-1][2][1]:7.1f}  server p50/p99 "
                              f"{rows[-1][3][0]:7.1f} / {rows[-1][3][1]:7.1f}", flush=True)
            finally:
                await asyncio.to_thread(deployment.stop)
    print(f"\nFirst words, ms ({calls} calls per row, one at a time; phone = start sent -> first media received)")
    print(f"{'connect delay':>13} | {'before: p50':>11} {'p99':>7} | {'after: p50':>10} {'p99':>7} | {'p50 ratio':>9}")
    for delay in delays:
        before = next(r for r in rows if r[0] == delay and not r[1])
        after = next(r for r in rows if r[0] == delay and r[1])
        ratio = before[2][0] / after[2][0] if after[2][0] else float("inf")
        print(f"{delay:>10} ms | {before[2][0]:>11.1f} {before[2][1]:>7.1f} | {after[2][0]:>10.1f} {after[2][1]:>7.1f}"
              f" | {ratio:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per round")
    parser.add_argument("--delays", default="300,1000", help="comma-separated fake OpenAI connect delays (ms)")
    args = parser.parse_args()
    asyncio.run(bench(args.calls, [int(ms) for ms in args.delays.split(",")]))


if __name__ == "__main__":
    main()
