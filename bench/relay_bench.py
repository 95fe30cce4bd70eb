"""Relay latency and capacity: N simultaneous calls through ONE voicebot process, against a minimal reference relay.

    .venv/bin/python bench/relay_bench.py --calls 10,50,100 --seconds 20            # both bot-audio patterns
    .venv/bin/python bench/relay_bench.py --calls 10 --seconds 20 --patterns 200    # the common one alone
    .venv/bin/python bench/relay_bench.py --baseline ../main-checkout               # and the code there, too
    .venv/bin/python bench/relay_bench.py --floor                                   # and Daphne's own floor

Two servers take the same load in the same invocation, one after the other for each N:
- voicebot: a real Daphne serving the real ASGI app (calls placed through `POST /api/calls/`, FakeTwilio dials,
  signed handshake, single-use stream token, recording to disk);
- reference: `reference_relay` below, the simplest relay there is (its logic in bench/reference_relay.py, shared
  with `--floor`): a plain `websockets` server that forwards Twilio `media` to OpenAI as `input_audio_buffer.append`
  and each `response.output_audio.delta` back as a Twilio `media` plus a `mark`, passing the base64 through, with
  no checks, no recording and no database.
With `--baseline DIR`, voicebot as checked out in DIR takes the same load too (before/after a change, same run).
With `--floor`, so does `bench/daphne_floor.py`: the reference's logic as a bare ASGI app on Daphne (no Django, no
Channels): what the design card's server costs before any work of ours, a floor no change inside the consumer can
go below.
All talk to the same lean fake OpenAI Realtime. Callee audio: a 20 ms mu-law frame every 20 ms per call. Bot audio:
on the opening `response.create` the fake speaks 1 s out of every 2 s, at real-time pace, in deltas of the pattern's
size: 20 ms (the worst realistic case: 50 deltas a second) and 200 ms (the common case). Twilio's marks are echoed at
once.

Placement: the server under test, the fake OpenAI and the load generator are separate processes (the load generator
is one process per 50 calls), so none shares a GIL with another. The bench's main process only places the calls and
reads the clocks. With `--pin` the server is pinned to CPU 0 and everything else to the other CPUs; by default the
OS places them (on a 2-core machine shared with other work, pinning the server to one core exposes it to whatever
else runs there). The load side's CPU is printed (`load%`, `fake%`): when it nears 100% of a core per process, the
figures measure the bench, not the relay. Machine noise hits every server alike, so read the ratios.

Every frame carries its own birth certificate in its first 16 payload bytes (call index, sequence, CLOCK_MONOTONIC
at sending, which is shared by the processes of one machine); both relays pass pcmu through untouched, so:
- up = Twilio->OpenAI latency: the fake OpenAI receiving `input_audio_buffer.append` minus the load generator
  sending the frame; dn = OpenAI->Twilio: the load generator receiving `media` minus the fake sending the delta;
- first words: from Twilio's `start` sent to the first bot `media` received, per call (p50/p99 over the calls);
- lost frames by sequence (sent vs. received, after a drain);
- CPU: the server process's user+system time (/proc/<pid>/stat) over the measured window, per call-minute.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing
import os
import struct
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.twilio_frames import TwilioFrames  # noqa: E402
from tests.processes import free_port, wait_for_port  # noqa: E402

STAMP = struct.Struct("<IId")  # call index (round * ROUND_CALLS + call), sequence, time.monotonic() when sent
ROUND_CALLS = 100_000  # a server still flushing the last round's backlog must not count in this one
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_S = 0.02
FILLER = b"\xfe" * FRAME_BYTES  # quiet mu-law
API_KEY = "sk-bench"
PUBLIC_BASE_URL = "https://voicebot.example"
SPEECH_S, SPEECH_PERIOD_S = 1.0, 2.0  # the bot speaks 1 s out of every 2
CALLS_PER_LOAD_PROCESS = 50
WARM_UP_S = 3.0
DRAIN_S = 1.5


def stamped(index: int, sequence: int, filler: bytes = FILLER) -> str:
    payload = bytearray(filler)
    STAMP.pack_into(payload, 0, index, sequence, time.monotonic())
    return base64.b64encode(payload).decode("ascii")


def read_stamp(b64: str) -> tuple[int, int, float]:
    return STAMP.unpack_from(base64.b64decode(b64[:24]))  # 18 bytes hold the 16 of the stamp


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    ordered = sorted(values)
    return {"p50": ordered[len(ordered) // 2] * 1000, "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            * 1000, "max": ordered[-1] * 1000, "n": len(ordered)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` (threads started later inherit it) onto `cpus`."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


# ---- the fake OpenAI Realtime, lean: no validation, real-time deltas ---------------------------------------------


class BenchRealtime:
    """Just enough GA Realtime for both relays; `GET /loud?delta_ms=`, `/reset`, `/quiet`, `/report` steer it."""

    def __init__(self) -> None:
        self.delta_ms = 20
        self.round = 0
        self.uplink: list[float] = []
        self.received: dict[int, set[int]] = {}
        self.emitted = 0
        self.emitting = True
        self.sessions = 0

    def control(self, connection, request):
        path, _, query = request.path.partition("?")
        if path.startswith("/v1/realtime"):
            if request.headers.get("Authorization") != f"Bearer {API_KEY}":
                return connection.respond(HTTPStatus.UNAUTHORIZED, "bad key\n")
            return None
        if path == "/reset":
            self.uplink.clear()
        elif path == "/quiet":
            self.emitting = False
        elif path == "/loud":
            params = parse_qs(query)
            self.delta_ms, self.round = int(params["delta_ms"][0]), int(params["round"][0])
            self.emitting, self.emitted, self.received, self.sessions = True, 0, {}, 0
        body = {"uplink": percentiles(self.uplink), "emitted": self.emitted, "sessions": self.sessions,
                "received": sum(len(seqs) for seqs in self.received.values()), "cpu_s": time.process_time()}
        return connection.respond(HTTPStatus.OK, json.dumps(body) + "\n")

    async def handle(self, ws) -> None:
        self.sessions += 1
        this_round = self.round
        speaker: asyncio.Task | None = None
        await ws.send(json.dumps({"type": "session.created", "event_id": "evt_0",
                                  "session": {"type": "realtime", "id": "sess_bench", "object": "realtime.session"}}))
        try:
            async for raw in ws:
                now = time.monotonic()
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "input_audio_buffer.append":
                    index, sequence, sent = read_stamp(event["audio"])
                    if index // ROUND_CALLS == self.round:
                        self.uplink.append(now - sent)
                        self.received.setdefault(index, set()).add(sequence)
                elif kind == "session.update":
                    await ws.send(json.dumps({"type": "session.updated", "event_id": "evt_1",
                                              "session": event["session"]}))
                elif kind == "response.create" and speaker is None:
                    speaker = asyncio.create_task(self.speak(ws, self.delta_ms, this_round))
        except Exception:
            pass
        finally:
            if speaker is not None:
                speaker.cancel()

    async def speak(self, ws, delta_ms: int, this_round: int) -> None:
        """1 s of speech every 2 s, from now on, one `delta_ms` delta every `delta_ms`."""
        response = {"id": "resp_bench", "object": "realtime.response", "status": "in_progress", "output": []}
        await ws.send(json.dumps({"type": "response.created", "event_id": "evt_2", "response": response}))
        filler, per_period = b"\xfe" * (delta_ms * 8), round(SPEECH_S * 1000 / delta_ms)
        start, sequence = time.monotonic(), 0
        while True:
            period, within = divmod(sequence, per_period)
            await sleep_until(start + period * SPEECH_PERIOD_S + within * delta_ms / 1000)
            if self.emitting and this_round == self.round:
                await ws.send(json.dumps({
                    "type": "response.output_audio.delta", "event_id": "evt_d", "response_id": "resp_bench",
                    "item_id": "item_bench", "output_index": 0, "content_index": 0,
                    "delta": stamped(0, sequence, filler)}))
                self.emitted += 1
            sequence += 1


def quiet_handshake_errors() -> None:
    import logging

    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # the bench's own port probes are not errors


def serve_realtime(port: int, cpus: set[int] | None) -> None:
    from websockets.asyncio.server import serve

    quiet_handshake_errors()
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def main() -> None:
        fake = BenchRealtime()
        async with serve(fake.handle, "127.0.0.1", port, process_request=fake.control, max_size=None,
                         ping_interval=None, compression=None):
            await asyncio.Future()

    asyncio.run(main())


async def realtime_control(port: int, action: str) -> dict:
    def get() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{action}", timeout=30) as response:
            return json.loads(response.read())

    return await asyncio.to_thread(get)


# ---- the reference: the simplest relay there is ------------------------------------------------------------------


def reference_relay(port: int, realtime_port: int) -> None:
    """Twilio media <-> OpenAI Realtime with nothing else (bench/reference_relay.py) on a plain `websockets` server."""
    from websockets.asyncio.server import serve

    from bench.reference_relay import relay_call

    quiet_handshake_errors()

    async def handle(twilio) -> None:
        await relay_call(twilio, twilio.send, realtime_port=realtime_port, api_key=API_KEY)

    async def main() -> None:
        async with serve(handle, "127.0.0.1", port, max_size=2**20, compression=None, ping_interval=None):
            await asyncio.Future()

    asyncio.run(main())


# ---- Twilio's side: the load generator, one media stream per call ------------------------------------------------


@dataclass
class BenchCall:
    index: int
    url: str
    signed_headers: dict[str, str]
    token: str
    call_sid: str
    position: int = 0  # in the order the calls start
    stream_sid: str = field(default_factory=lambda: "MZ" + os.urandom(16).hex())
    sent: int = 0
    downlink: list[float] = field(default_factory=list)
    bot_frames: int = 0
    first_words: float | None = None
    measuring: bool = False
    sending: bool = True

    def __post_init__(self) -> None:
        self.framer = TwilioFrames(call_sid=self.call_sid, stream_sid=self.stream_sid)

    async def run(self, begin: float, stop: float) -> None:
        from websockets.asyncio.client import connect

        await sleep_until(begin)
        async with connect(self.url, additional_headers=self.signed_headers, max_size=2**20,
                           compression=None, ping_interval=None) as ws:
            await ws.send(json.dumps(self.framer.connected()))
            self.started = time.monotonic()
            await ws.send(json.dumps(self.framer.start({"token": self.token})))
            receiver = asyncio.create_task(self.receive(ws))
            while time.monotonic() < stop:
                await sleep_until(self.started + self.sent * FRAME_S)
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
                if self.first_words is None:
                    self.first_words = now - self.started
                if self.measuring:
                    self.downlink.append(now - read_stamp(frame["media"]["payload"])[2])
                self.bot_frames += 1
            elif frame["event"] == "mark":
                await ws.send(json.dumps(self.framer.mark(frame["mark"]["name"])))


def load_process(connection, calls: list[dict], cpus: set[int] | None) -> None:
    """One load generator: runs its share of the calls on the timeline the main process sends once all are ready."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    import websockets.asyncio.client  # noqa: F401 (imported before the clock starts)

    connection.send("ready")
    timeline = connection.recv()

    async def main() -> dict:
        bench_calls = [BenchCall(**call) for call in calls]
        tasks = [asyncio.create_task(call.run(timeline["start"] + call.position * timeline["stagger"],
                                              timeline["end"] + DRAIN_S))
                 for call in bench_calls]
        await sleep_until(timeline["measure"])
        cpu0 = time.process_time()
        for call in bench_calls:
            call.measuring = True
        await sleep_until(timeline["end"])
        cpu1 = time.process_time()
        for call in bench_calls:
            call.measuring, call.sending = False, False
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return {"downlink": [latency for call in bench_calls for latency in call.downlink],
                "first_words": [call.first_words for call in bench_calls if call.first_words is not None],
                "sent": sum(call.sent for call in bench_calls),
                "bot_frames": sum(call.bot_frames for call in bench_calls),
                "errors": [repr(r)[:200] for r in results if isinstance(r, BaseException)],
                "cpu_s": cpu1 - cpu0}

    connection.send(asyncio.run(main()))


# ---- one round: N calls against one server -----------------------------------------------------------------------


@dataclass
class Server:
    name: str
    pid: int
    streams: object  # n -> [{url, signed_headers, token, call_sid}] for n new calls


async def round_of(server: Server, n: int, seconds: float, delta_ms: int, realtime_port: int,
                   load_cpus: set[int] | None, round_id: int) -> dict:
    streams = await asyncio.to_thread(server.streams, n)
    await realtime_control(realtime_port, f"loud?delta_ms={delta_ms}&round={round_id}")
    context = multiprocessing.get_context("spawn")
    workers = []
    for first in range(0, n, CALLS_PER_LOAD_PROCESS):
        ours, theirs = context.Pipe()
        share = [{**stream, "index": round_id * ROUND_CALLS + first + i, "position": first + i}
                 for i, stream in enumerate(streams[first:first + CALLS_PER_LOAD_PROCESS])]
        process = context.Process(target=load_process, args=(theirs, share, load_cpus), daemon=True)
        process.start()
        workers.append((process, ours))
    for _, pipe in workers:
        await asyncio.to_thread(pipe.recv)  # "ready"
    stagger = min(1.0 / n, 0.05)  # calls start over about a second, as they would be answered
    start = time.monotonic() + 0.2
    timeline = {"start": start, "stagger": stagger, "measure": start + n * stagger + WARM_UP_S}
    timeline["end"] = timeline["measure"] + seconds
    for _, pipe in workers:
        pipe.send(timeline)
    await sleep_until(timeline["measure"])
    await realtime_control(realtime_port, "reset")
    fake0 = await realtime_control(realtime_port, "report")
    cpu0 = cpu_seconds(server.pid)
    await sleep_until(timeline["end"])
    cpu1 = cpu_seconds(server.pid)
    await realtime_control(realtime_port, "quiet")  # the fake stops speaking; the load generators stop too
    await asyncio.sleep(DRAIN_S)  # what is in flight arrives
    report = await realtime_control(realtime_port, "report")
    loads = [await asyncio.to_thread(pipe.recv) for _, pipe in workers]
    for process, _ in workers:
        process.join(10)
    errors = [error for load in loads for error in load["errors"]]
    return {
        "server": server.name, "calls": n, "connected": report["sessions"], "errors": errors,
        "up": report["uplink"], "down": percentiles([x for load in loads for x in load["downlink"]]),
        "first": percentiles([x for load in loads for x in load["first_words"]]),
        "up_lost": sum(load["sent"] for load in loads) - report["received"],
        "down_lost": report["emitted"] - sum(load["bot_frames"] for load in loads),
        "cpu_per_call_min": (cpu1 - cpu0) / (n * seconds / 60), "server_cpu_pct": (cpu1 - cpu0) / seconds * 100,
        "load_cpu_pct": sum(load["cpu_s"] for load in loads) / seconds * 100,
        "fake_cpu_pct": (report["cpu_s"] - fake0["cpu_s"]) / (seconds + DRAIN_S) * 100,
    }


HEAD = (f"{'calls':>5} {'server':>9} {'up p50':>7} {'up p99':>7} {'dn p50':>7} {'dn p99':>7} {'lost up':>7} "
        f"{'lost dn':>7} {'cpu s/call-min':>14} {'1st p50':>7} {'1st p99':>7} {'srv%':>5} {'load%':>5} {'fake%':>5}")


def row_line(r: dict) -> str:
    return (f"{r['calls']:>5} {r['server']:>9} {r['up']['p50']:>7.2f} {r['up']['p99']:>7.2f} "
            f"{r['down']['p50']:>7.2f} {r['down']['p99']:>7.2f} {r['up_lost']:>7} {r['down_lost']:>7} "
            f"{r['cpu_per_call_min']:>14.3f} {r['first']['p50']:>7.1f} {r['first']['p99']:>7.1f} "
            f"{r['server_cpu_pct']:>5.0f} {r['load_cpu_pct']:>5.0f} {r['fake_cpu_pct']:>5.0f}"
            + (f"  ({len(r['errors'])} stream errors, first: {r['errors'][0]})" if r["errors"] else ""))


def ratio_line(ours: dict, reference: dict) -> str:
    def ratio(key: str, sub: str | None = None) -> str:
        a, b = (ours[key][sub], reference[key][sub]) if sub else (ours[key], reference[key])
        return f"{a / b:.2f}x" if b and not math.isnan(a) and not math.isnan(b) else "-"

    return (f"{ours['calls']:>5} {'ratio':>9} {ours['server']}/reference: up p99 {ratio('up', 'p99')}, "
            f"dn p99 {ratio('down', 'p99')}, cpu/call-min {ratio('cpu_per_call_min')}, "
            f"first words p99 {ratio('first', 'p99')}; frames lost up {ours['up_lost']} vs {reference['up_lost']}, "
            f"dn {ours['down_lost']} vs {reference['down_lost']}")


def print_pattern(delta_ms: int, rows: list[dict]) -> None:
    print(f"\nbot audio in {delta_ms} ms deltas, {SPEECH_S:g} s of speech every {SPEECH_PERIOD_S:g} s; callee audio in "
          "20 ms frames. Latency in ms (up = Twilio->OpenAI, dn = OpenAI->Twilio, 1st = first words)")
    print(HEAD)
    for r in rows:
        print(row_line(r))
    by_calls: dict[int, dict[str, dict]] = {}
    for r in rows:
        by_calls.setdefault(r["calls"], {})[r["server"]] = r
    for servers in by_calls.values():
        for name in ("floor", "baseline", "voicebot"):
            if {name, "reference"} <= servers.keys():
                print(ratio_line(servers[name], servers["reference"]))
    sys.stdout.flush()


# ---- the servers -------------------------------------------------------------------------------------------------


class VoicebotServer:
    """voicebot's Daphne with its own FakeTwilio and database; `root`: the checkout it runs (a baseline's, say)."""

    def __init__(self, realtime_port: int, tmp: Path, root: Path = ROOT) -> None:
        from simulator.twilio import FakeTwilio
        from tests.processes import Stack

        self.twilio = FakeTwilio(public_base_url=PUBLIC_BASE_URL).start()
        self.stack = Stack(tmp, extra_env={
            **self.twilio.voicebot_env(), "OPENAI_BASE_URL": f"http://127.0.0.1:{realtime_port}/v1",
            "OPENAI_API_KEY": API_KEY, "CALL_DURATION_LIMIT": "0", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off",
            "DEBUG": "true", "LOG_LEVEL": "WARNING", "REDIS_URL": "", "DATABASE_URL": "",
            "API_THROTTLE_USER": "100000/minute",
        })
        self.stack.prepare()
        self.stack.base_url = f"http://127.0.0.1:{self._start_daphne(root)}"
        self.pid = self.stack.processes[0].pid
        self.numbers = 600_000_000

    def _start_daphne(self, root: Path) -> int:
        if root == ROOT:
            return self.stack.start_daphne()
        import subprocess

        port = free_port()
        log = open(self.stack.tmp / f"daphne-{port}.log", "w")  # noqa: SIM115 (the process's until it stops)
        self.stack.processes.append(subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicebot_site.asgi:application"],
            cwd=root, env=self.stack.env, stdout=log, stderr=subprocess.STDOUT))
        wait_for_port(port, process=self.stack.processes[-1])
        return port

    def streams(self, count: int) -> list[dict]:
        placed = place_streams(self.stack, self.twilio, self.numbers, count)
        self.numbers += count
        return placed

    def stop(self) -> None:
        self.stack.stop_all()
        self.twilio.stop()


def place_streams(stack, twilio, first_number: int, count: int) -> list[dict]:
    """Place `count` calls through voicebot's API (numbers after `first_number`); each one's stream to open: its own
    URL, signed, with its token, as FakeTwilio would open it."""
    ws_base = stack.base_url.replace("http://", "ws://")
    placed = []
    for number in range(first_number + 1, first_number + count + 1):
        body = json.dumps({"phone_number": f"+34{number}"}).encode()
        request = urllib.request.Request(stack.base_url + "/api/calls/", data=body, method="POST", headers={
            "Authorization": f"Token {stack.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            sid = json.loads(response.read())["call_sid"]
        url, headers, params = twilio.stream_handshake(sid)
        placed.append({"url": ws_base + urlsplit(url).path, "signed_headers": headers, "token": params["token"],
                       "call_sid": sid})
    return placed


def start_process(target, *args) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True)
    process.start()
    return process


def daphne_floor(realtime_port: int, tmp: Path) -> Server:
    """Daphne serving bench/daphne_floor.py (the reference's logic as a bare ASGI app): Daphne's own cost per frame."""
    import subprocess

    port = free_port()
    log = open(tmp / "daphne-floor.log", "w")  # noqa: SIM115 (the process's until it stops)
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.daphne_floor:application"],
        cwd=ROOT, env={**os.environ, "REALTIME_PORT": str(realtime_port), "API_KEY": API_KEY}, stdout=log,
        stderr=subprocess.STDOUT)
    _floors.append(process)
    wait_for_port(port, process=process)
    url = f"ws://127.0.0.1:{port}/"
    return Server("floor", process.pid, lambda count: [
        {"url": url, "signed_headers": {}, "token": "-", "call_sid": "CA" + os.urandom(16).hex()}
        for _ in range(count)])


_floors: list = []


async def bench(counts: list[int], seconds: float, patterns: list[int], keep: bool, pinned: bool,
                baseline: Path | None, floor: bool = False) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = ({cpus[0]}, set(cpus[1:])) if pinned and len(cpus) > 1 else (None, None)
    realtime_port, reference_port = free_port(), free_port()
    processes = [start_process(serve_realtime, realtime_port, load_cpus)]
    processes.append(start_process(reference_relay, reference_port, realtime_port))
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    voicebots: list[VoicebotServer] = []
    try:
        wait_for_port(realtime_port)
        wait_for_port(reference_port)
        reference_url = f"ws://127.0.0.1:{reference_port}/"
        servers = [Server("reference", processes[1].pid, lambda count: [
            {"url": reference_url, "signed_headers": {}, "token": "-", "call_sid": "CA" + os.urandom(16).hex()}
            for _ in range(count)])]
        if floor:
            servers.append(daphne_floor(realtime_port, tmp))
        for name, root in [("baseline", baseline), ("voicebot", ROOT)] if baseline else [("voicebot", ROOT)]:
            (tmp / name).mkdir()
            voicebots.append(VoicebotServer(realtime_port, tmp / name, root))
            servers.append(Server(name, voicebots[-1].pid, voicebots[-1].streams))
        if server_cpus:
            for server in servers:
                pin(server.pid, server_cpus)
        round_id = 0
        for delta_ms in patterns:
            rows = []
            for n in counts:
                for server in servers:
                    round_id += 1
                    rows.append(await round_of(server, n, seconds, delta_ms, realtime_port, load_cpus, round_id))
                    print(row_line(rows[-1]), flush=True)
                    await asyncio.sleep(1.0)
            print_pattern(delta_ms, rows)
    finally:
        for voicebot in voicebots:
            voicebot.stop()
        for process in _floors:
            process.terminate()
            process.wait(5)
        for process in processes:
            process.terminate()
            process.join(5)
        if keep:
            print(f"logs and recordings kept in {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="10,50,100", help="comma-separated numbers of simultaneous calls")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per round (after warm-up)")
    parser.add_argument("--patterns", default="20,200",
                        help="comma-separated bot-audio delta sizes in ms (20 = worst realistic, 200 = common)")
    parser.add_argument("--pin", action="store_true", help="pin the server to CPU 0 and the load to the others")
    parser.add_argument("--baseline", type=Path, help="also run voicebot from this checkout (e.g. a worktree of main)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary deployment (logs, recordings)")
    parser.add_argument("--floor", action="store_true",
                        help="also run Daphne with the reference's logic as a bare ASGI app (bench/daphne_floor.py)")
    args = parser.parse_args()
    asyncio.run(bench([int(n) for n in args.calls.split(",")], args.seconds,
                      [int(ms) for ms in args.patterns.split(",")], args.keep, args.pin, args.baseline, args.floor))


if __name__ == "__main__":
    main()
