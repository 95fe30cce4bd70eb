"""Relay latency and capacity: N simultaneous calls through ONE Daphne process, against a lean fake OpenAI Realtime.

    .venv/bin/python bench/relay_bench.py --calls 1,10,50,100 --seconds 20

For each N, N calls are placed through the API (`POST /api/calls/`, FakeTwilio dials) and N Twilio media streams are
opened against a real Daphne serving the real ASGI app (signed handshake, single-use token). Both directions run at
real-time pace for the whole window: each call streams a 20 ms mu-law frame every 20 ms, and the fake OpenAI answers
the opening `response.create` with a 20 ms `response.output_audio.delta` every 20 ms (bot audio without pause: the
worst case). Twilio's marks are echoed at once.

Every frame carries its own birth certificate in its first 16 payload bytes (call index, sequence, CLOCK_MONOTONIC
at sending, which is shared by the processes of one machine); the relay passes pcmu through untouched, so:
- Twilio->OpenAI latency: fake OpenAI receiving `input_audio_buffer.append` minus the media client sending the frame;
- OpenAI->Twilio latency: the media client receiving the `media` frame minus the fake OpenAI sending the delta.
Lost frames are counted by sequence (sent vs. received, after a drain). CPU is the Daphne process's user+system
time (/proc/<pid>/stat) over the measured window, per call-minute. The fake OpenAI runs in a process of its own so
the two fakes do not share a GIL; on a 2-core machine the bench's own processes compete with Daphne, and their CPU
is printed too, so a saturated bench is visible rather than mistaken for a slow relay.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import struct
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.fakes.twilio_frames import TwilioFrames  # noqa: E402
from tests.processes import Stack, free_port  # noqa: E402

STAMP = struct.Struct("<IId")  # call index, sequence, time.monotonic() when sent
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_S = 0.02
FILLER = b"\xfe" * FRAME_BYTES  # quiet mu-law
API_KEY = "sk-bench"
PUBLIC_BASE_URL = "https://voicebot.example"


def stamped(index: int, sequence: int, filler: bytes = FILLER) -> str:
    payload = bytearray(filler)
    STAMP.pack_into(payload, 0, index, sequence, time.monotonic())
    return base64.b64encode(payload).decode("ascii")


def read_stamp(b64: str) -> tuple[int, int, float]:
    return STAMP.unpack_from(base64.b64decode(b64))


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    ordered = sorted(values)
    return {"p50": ordered[len(ordered) // 2] * 1000, "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            * 1000, "max": ordered[-1] * 1000, "n": len(ordered)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# ---- the fake OpenAI Realtime, lean: no validation, real-time deltas ---------------------------------------------


class BenchRealtime:
    """Just enough GA Realtime for the relay; `GET /report`, `/reset`, `/quiet` steer it from the bench."""

    def __init__(self, delta_ms: int) -> None:
        self.delta_s = delta_ms / 1000
        self.filler = b"\xfe" * (delta_ms * 8)
        self.uplink: list[float] = []
        self.received: dict[int, set[int]] = {}
        self.emitted = 0
        self.emitting = True
        self.sessions = 0

    def control(self, connection, request):
        path = request.path
        if path.startswith("/v1/realtime"):
            if request.headers.get("Authorization") != f"Bearer {API_KEY}":
                return connection.respond(HTTPStatus.UNAUTHORIZED, "bad key\n")
            return None
        if path == "/reset":
            self.uplink.clear()
        elif path == "/quiet":
            self.emitting = False
        elif path == "/loud":
            self.emitting, self.emitted, self.received = True, 0, {}
        body = {"uplink": percentiles(self.uplink), "emitted": self.emitted, "sessions": self.sessions,
                "received": sum(len(seqs) for seqs in self.received.values()),
                "cpu_s": time.process_time()}
        return connection.respond(HTTPStatus.OK, json.dumps(body) + "\n")

    async def handle(self, ws) -> None:
        self.sessions += 1
        emitter: asyncio.Task | None = None
        await ws.send(json.dumps({"type": "session.created", "event_id": "evt_0",
                                  "session": {"type": "realtime", "id": "sess_bench", "object": "realtime.session"}}))
        try:
            async for raw in ws:
                now = time.monotonic()
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "input_audio_buffer.append":
                    index, sequence, sent = read_stamp(event["audio"])
                    self.uplink.append(now - sent)
                    self.received.setdefault(index, set()).add(sequence)
                elif kind == "session.update":
                    await ws.send(json.dumps({"type": "session.updated", "event_id": "evt_1",
                                              "session": event["session"]}))
                elif kind == "response.create" and emitter is None:
                    emitter = asyncio.create_task(self.speak(ws))
        except Exception:
            pass
        finally:
            if emitter is not None:
                emitter.cancel()

    async def speak(self, ws) -> None:
        response = {"id": "resp_bench", "object": "realtime.response", "status": "in_progress", "output": []}
        await ws.send(json.dumps({"type": "response.created", "event_id": "evt_2", "response": response}))
        start, sequence = time.monotonic() + random.random() * self.delta_s, 0
        while True:
            delay = start + sequence * self.delta_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.emitting:
                await ws.send(json.dumps({
                    "type": "response.output_audio.delta", "event_id": "evt_d", "response_id": "resp_bench",
                    "item_id": "item_bench", "output_index": 0, "content_index": 0,
                    "delta": stamped(0, sequence, self.filler)}))
                self.emitted += 1
            sequence += 1


def serve_realtime(port: int, delta_ms: int) -> None:
    from websockets.asyncio.server import serve

    async def main() -> None:
        fake = BenchRealtime(delta_ms)
        async with serve(fake.handle, "127.0.0.1", port, process_request=fake.control, max_size=None,
                         ping_interval=None, compression=None):
            await asyncio.Future()

    asyncio.run(main())


async def realtime_control(port: int, action: str) -> dict:
    def get() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{action}", timeout=30) as response:
            return json.loads(response.read())

    return await asyncio.to_thread(get)  # never block the media clients' loop


# ---- Twilio's side: one media stream per call --------------------------------------------------------------------


@dataclass
class BenchCall:
    index: int
    url: str
    signed_headers: dict[str, str]
    token: str
    call_sid: str
    stream_sid: str = field(default_factory=lambda: "MZ" + os.urandom(16).hex())
    sent: int = 0
    downlink: list[float] = field(default_factory=list)
    bot_frames: int = 0
    sending: bool = True

    def __post_init__(self) -> None:
        self.framer = TwilioFrames(call_sid=self.call_sid, stream_sid=self.stream_sid)

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.url, additional_headers=self.signed_headers, max_size=2**20,
                           compression=None) as ws:
            receiver = asyncio.create_task(self.receive(ws))
            await ws.send(json.dumps(self.framer.connected()))
            await ws.send(json.dumps(self.framer.start({"token": self.token})))
            started = time.monotonic()
            while not stop.is_set():
                delay = started + self.sent * FRAME_S - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not self.sending:
                    await asyncio.sleep(FRAME_S)
                    continue
                await ws.send(json.dumps(self.framer.media(self.sent * 20, payload=stamped(self.index, self.sent))))
                self.sent += 1
            await ws.send(json.dumps(self.framer.stop()))
            receiver.cancel()

    async def receive(self, ws) -> None:
        async for raw in ws:
            now = time.monotonic()
            frame = json.loads(raw)
            if frame["event"] == "media":
                self.downlink.append(now - read_stamp(frame["media"]["payload"])[2])
                self.bot_frames += 1
            elif frame["event"] == "mark":
                await ws.send(json.dumps(self.framer.mark(frame["mark"]["name"])))


# ---- one round: N calls ------------------------------------------------------------------------------------------


def place_calls(stack: Stack, twilio: FakeTwilio, count: int, first_number: int) -> list[tuple[str, str, dict, dict]]:
    placed = []
    for n in range(count):
        body = json.dumps({"phone_number": f"+34{first_number + n}"}).encode()
        request = urllib.request.Request(stack.base_url + "/api/calls/", data=body, method="POST", headers={
            "Authorization": f"Token {stack.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            sid = json.loads(response.read())["call_sid"]
        placed.append((sid, *twilio.stream_handshake(sid)))  # the call's own stream URL, signed, and its token
    return placed


async def round_of(n: int, seconds: float, stack: Stack, twilio: FakeTwilio, realtime_port: int, daphne_pid: int,
                   first_number: int) -> dict:
    placed = await asyncio.to_thread(place_calls, stack, twilio, n, first_number)
    await realtime_control(realtime_port, "loud")
    ws_base = stack.base_url.replace("http://", "ws://")
    calls = [BenchCall(i, ws_base + urlsplit(url).path, headers, params["token"], sid)
             for i, (sid, url, headers, params) in enumerate(placed)]
    stop = asyncio.Event()
    tasks = []
    for call in calls:  # calls start over about a second, as they would be answered
        tasks.append(asyncio.create_task(call.run(stop)))
        await asyncio.sleep(min(1.0 / n, 0.05))
    await asyncio.sleep(3.0)  # warm-up: every call connected to OpenAI and hearing the bot
    for call in calls:
        call.downlink.clear()
    await realtime_control(realtime_port, "reset")
    fake0 = await realtime_control(realtime_port, "report")
    cpu0, bench0 = cpu_seconds(daphne_pid), time.process_time()
    await asyncio.sleep(seconds)
    cpu1, bench1 = cpu_seconds(daphne_pid), time.process_time()
    downlink = [latency for call in calls for latency in call.downlink]
    await realtime_control(realtime_port, "quiet")  # the fake stops speaking; the media clients too
    for call in calls:
        call.sending = False
    await asyncio.sleep(1.5)  # drain what is in flight
    report = await realtime_control(realtime_port, "report")
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return {
        "calls": n, "connected": report["sessions"], "errors": len(errors),
        "up": report["uplink"],
        "down": percentiles(downlink),
        "up_lost": sum(call.sent for call in calls) - report["received"],
        "down_lost": report["emitted"] - sum(call.bot_frames for call in calls),
        "cpu_per_call_min": (cpu1 - cpu0) / (n * seconds / 60), "daphne_cpu_pct": (cpu1 - cpu0) / seconds * 100,
        "bench_cpu_pct": (bench1 - bench0) / seconds * 100,
        "fake_cpu_pct": (report["cpu_s"] - fake0["cpu_s"]) / (seconds + 1.5) * 100,
    }


def print_table(rows: list[dict]) -> None:
    head = (f"{'calls':>5} {'up p50':>7} {'up p99':>7} {'up max':>7} {'dn p50':>7} {'dn p99':>7} {'dn max':>7} "
            f"{'lost up':>7} {'lost dn':>7} {'cpu s/call-min':>14} {'daphne%':>7} {'bench%':>6} {'fake%':>6}")
    print("\nlatency added by Daphne + consumer + relay, ms (up = Twilio->OpenAI, dn = OpenAI->Twilio)")
    print(head)
    for r in rows:
        print(f"{r['calls']:>5} {r['up']['p50']:>7.2f} {r['up']['p99']:>7.2f} {r['up']['max']:>7.1f} "
              f"{r['down']['p50']:>7.2f} {r['down']['p99']:>7.2f} {r['down']['max']:>7.1f} "
              f"{r['up_lost']:>7} {r['down_lost']:>7} {r['cpu_per_call_min']:>14.3f} {r['daphne_cpu_pct']:>7.0f} "
              f"{r['bench_cpu_pct']:>6.0f} {r['fake_cpu_pct']:>6.0f}"
              + (f"  ({r['errors']} stream errors, {r['connected']} OpenAI sessions)" if r["errors"] else ""))
    sys.stdout.flush()


async def bench(counts: list[int], seconds: float, delta_ms: int, keep: bool) -> list[dict]:
    realtime_port = free_port()
    fake = multiprocessing.get_context("spawn").Process(target=serve_realtime, args=(realtime_port, delta_ms),
                                                          daemon=True)
    fake.start()
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    rows: list[dict] = []
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
        stack = Stack(tmp, extra_env={
            **twilio.voicebot_env(), "OPENAI_BASE_URL": f"http://127.0.0.1:{realtime_port}/v1",
            "OPENAI_API_KEY": API_KEY, "CALL_DURATION_LIMIT": "0", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off",
            "DEBUG": "true", "LOG_LEVEL": "WARNING", "REDIS_URL": "", "DATABASE_URL": "",
            "API_THROTTLE_USER": "100000/minute",
        })
        try:
            stack.prepare()
            stack.base_url = f"http://127.0.0.1:{stack.start_daphne()}"
            daphne_pid = stack.processes[0].pid
            for round_number, n in enumerate(counts):
                rows.append(await round_of(n, seconds, stack, twilio, realtime_port, daphne_pid,
                                           600_000_000 + round_number * 1000))
                print_table(rows[-1:])
                await asyncio.sleep(1.0)
        finally:
            stack.stop_all()
            fake.terminate()
            if keep:
                print(f"logs and recordings kept in {tmp}")
            else:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,10,50,100", help="comma-separated numbers of simultaneous calls")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per round (after warm-up)")
    parser.add_argument("--delta-ms", type=int, default=20,
                        help="bot audio per response.output_audio.delta, one every as many ms (20 = worst case)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary deployment (logs, recordings)")
    args = parser.parse_args()
    rows = asyncio.run(bench([int(n) for n in args.calls.split(",")], args.seconds, args.delta_ms, args.keep))
    print(f"bot audio: one {args.delta_ms} ms delta every {args.delta_ms} ms; callee audio: 20 ms frames")
    print_table(rows)


if __name__ == "__main__":
    main()
