"""The cores of one machine: simultaneous calls carried with p99 frame latency under a bound, 1 web process vs N.

    .venv/bin/python bench/relay_cores.py --processes 2 --seconds 10

Each configuration is `manage.py serve --no-worker --web-processes K` (the launcher `make run` uses: K Daphne
processes sharing one port), the reference being K=1 in the same invocation. The load is bench/relay_bench.py's,
round by round: N calls placed through the API, N Twilio media streams at real-time pace both ways (20 ms frames
each way, bot audio without pause), every frame stamped at birth. For each K the number of calls grows by
`--growth` until a round's p99 (the worse of Twilio->OpenAI and OpenAI->Twilio) reaches `--p99-ms`, loses a frame
or fails a stream, then is bisected to within `--resolution` of itself. Printed: each round, how the calls spread over
the K processes (who holds which websocket, from /proc), each configuration's capacity, and the ratio.

The fake OpenAI and the media clients run on the same machine: their CPU is printed per round with the Daphnes',
so a saturated machine (on 2 cores the bench competes with the Daphnes; other work on it preempts them, and a p99
of 20 ms is one scheduling delay) is visible rather than mistaken for a slow relay. The machine's load average is
printed at the end: compare runs only on a machine otherwise idle.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from relay_bench import (  # noqa: E402
    API_KEY, PUBLIC_BASE_URL, Server, cpu_seconds, place_streams, round_of, serve_realtime,
)
from simulator.twilio import FakeTwilio  # noqa: E402
from tests.processes import Stack, free_port, serving_pids, tcp_connections  # noqa: E402


DELTA_MS = 20  # the worst realistic bot audio: 20 ms deltas


class Capacity:
    """One configuration (K web processes) on a running stack: rounds of N calls, searched for the largest good N."""

    def __init__(self, stack: Stack, twilio: FakeTwilio, realtime_port: int, processes: int, limit_ms: float) -> None:
        self.stack, self.twilio, self.realtime_port, self.processes, self.limit_ms = (
            stack, twilio, realtime_port, processes, limit_ms)
        self.rounds: list[dict] = []

    async def start(self) -> None:
        port, launcher = await asyncio.to_thread(
            self.stack.start_serve, "--no-worker", "--web-processes", str(self.processes))
        self.port, self.launcher = port, launcher
        self.pids = await asyncio.to_thread(serving_pids, port, launcher, self.processes)
        self.stack.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.stack.stop(self.launcher)

    async def good(self, calls: int, seconds: float) -> bool:
        spread: list[int] = []

        async def sample_spread() -> None:  # once every call is connected and before the round ends
            await asyncio.sleep(calls * 0.05 + 2.0)
            spread.extend(len(held) for held in tcp_connections(self.port, self.pids).values())

        cpu0, wall0 = sum(map(cpu_seconds, self.pids)), time.monotonic()
        first_number = 600_000_000 + len(self.rounds) * 10_000 + self.processes * 1_000_000
        server = Server(f"{self.processes}p", self.pids[0],
                        lambda count: place_streams(self.stack, self.twilio, first_number, count))
        round_id = self.processes * 1000 + len(self.rounds) + 1
        row, _ = await asyncio.gather(
            round_of(server, calls, seconds, DELTA_MS, self.realtime_port, None, round_id), sample_spread())
        # Every Daphne's CPU over the whole round (placing, warm-up, drain too), in % of one core: with the bench's
        # and the fake's, what this machine's neighbours left is what a tail over the bound came from.
        row["daphnes_cpu_pct"] = (sum(map(cpu_seconds, self.pids)) - cpu0) / (time.monotonic() - wall0) * 100
        row["p99"] = max(row["up"]["p99"], row["down"]["p99"])
        row["good"] = row["p99"] < self.limit_ms and not (row["up_lost"] or row["down_lost"] or row["errors"])
        row["spread"] = spread
        self.rounds.append(row)
        print(f"  {self.processes} process(es), {calls:>4} calls: p99 {row['p99']:7.2f} ms (up {row['up']['p99']:.2f}, "
              f"down {row['down']['p99']:.2f}), lost {row['up_lost']}/{row['down_lost']}, stream errors "
              f"{len(row['errors'])}, calls per process {'/'.join(map(str, spread))}, CPU: daphnes "
              f"{row['daphnes_cpu_pct']:.0f}% bench {row['load_cpu_pct']:.0f}% fake {row['fake_cpu_pct']:.0f}% -> "
              f"{'under' if row['good'] else 'OVER'} {self.limit_ms:g} ms",
              flush=True)
        await asyncio.sleep(1.0)
        return row["good"]

    async def search(self, start: int, growth: float, resolution: float, most: int, seconds: float) -> int:
        """The largest number of calls whose round was good (0 if even `start` was not), to within `resolution`
        of itself (at least one call)."""
        good, bad = 0, None
        calls = start
        while calls <= most:
            if await self.good(calls, seconds):
                good = calls
                calls = max(calls + 1, int(calls * growth))
            else:
                bad = calls
                break
        while bad is not None and bad - good > max(1, int(good * resolution)):
            middle = (good + bad) // 2
            if await self.good(middle, seconds):
                good = middle
            else:
                bad = middle
        return good


async def bench(processes: int, seconds: float, limit_ms: float, start: int, growth: float, resolution: float,
                most: int, repeat: int) -> dict[int, list[int]]:
    realtime_port = free_port()
    fake = multiprocessing.get_context("spawn").Process(target=serve_realtime, args=(realtime_port, None), daemon=True)
    fake.start()
    tmp = Path(tempfile.mkdtemp(prefix="relay-cores-"))
    found: dict[int, list[int]] = {1: [], processes: []}
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
        stack = Stack(tmp, extra_env={
            **twilio.voicebot_env(), "OPENAI_BASE_URL": f"http://127.0.0.1:{realtime_port}/v1",
            "OPENAI_API_KEY": API_KEY, "CALL_DURATION_LIMIT": "0", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off",
            "DEBUG": "true", "LOG_LEVEL": "WARNING", "REDIS_URL": "", "DATABASE_URL": "",
            "API_THROTTLE_USER": "100000/minute",
        })
        try:
            await asyncio.to_thread(stack.prepare)
            for count in [1, processes] * repeat:  # interleaved: a neighbour's load drifts over both alike
                print(f"{count} web process(es):", flush=True)
                capacity = Capacity(stack, twilio, realtime_port, count, limit_ms)
                await capacity.start()
                try:
                    found[count].append(await capacity.search(start, growth, resolution, most, seconds))
                finally:
                    await asyncio.to_thread(capacity.stop)
        finally:
            await asyncio.to_thread(stack.stop_all)
            fake.terminate()
            locked = stack.logs(tail=None).count("database is locked")
            print(f"'database is locked' in the logs: {locked} time(s); load average (1, 5, 15 min): "
                  f"{', '.join(f'{load:.1f}' for load in os.getloadavg())} on {os.cpu_count()} CPUs")
            shutil.rmtree(tmp, ignore_errors=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)),
                        help="web processes of the configuration compared with one (default: the usable cores)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round (after warm-up)")
    parser.add_argument("--p99-ms", type=float, default=20.0, help="the frame-latency bound a round must stay under")
    parser.add_argument("--start", type=int, default=10, help="calls in the first round")
    parser.add_argument("--growth", type=float, default=1.5, help="factor between rounds until one is over")
    parser.add_argument("--resolution", type=float, default=0.1,
                        help="bisect until within this fraction of the calls found (and one call)")
    parser.add_argument("--most", type=int, default=1000, help="never more calls than this")
    parser.add_argument("--repeat", type=int, default=1, help="search each configuration this many times, in turn")
    args = parser.parse_args()
    found = asyncio.run(bench(args.processes, args.seconds, args.p99_ms, args.start, args.growth, args.resolution,
                              args.most, args.repeat))
    one, many = statistics.median(found[1]), statistics.median(found[args.processes])
    print(f"\ncalls carried with p99 under {args.p99_ms:g} ms (to within {args.resolution:.0%}; median of "
          f"{args.repeat}): 1 process {one:g} {found[1]}, {args.processes} processes {many:g} "
          f"{found[args.processes]}, ratio {many / one if one else float('nan'):.2f}")


if __name__ == "__main__":
    main()
