"""What `POST /make_call` waiters cost one Daphne process: threads, database connections, file descriptors.

    .venv/bin/python bench/make_call_waiters.py --waits 200

Starts a real Daphne serving the real ASGI app against the fake Twilio, whose calls never end (no callback is ever
sent), so every /make_call stays waiting. The process is measured idle (after one warm-up request) and again with
`--waits` requests waiting, in the same invocation; the table prints both and the cost per waiter:
- threads: /proc/<pid>/status;
- database connections: on PostgreSQL (DATABASE_URL=postgres://...) the sessions of the run's own database in
  pg_stat_activity; on SQLite the process's open descriptors of the database file (/proc/<pid>/fd); the fewest
  of five samples, as a waiter re-reading its call holds one for that instant;
- file descriptors: every entry of /proc/<pid>/fd;
- database connections, peak: the most seen while the requests arrive and place their calls.
With REDIS_URL set the channel layer is Redis, under a key prefix of the run's own. Requests refused because the
process already holds MAKE_CALL_MAX_WAITERS waiters (503) are counted too; `--max-waiters` sets that cap.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.twilio import FakeTwilio  # noqa: E402
from tests.processes import Stack  # noqa: E402

FIRST_NUMBER = 600_000_000


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError("no Threads line")


def fd_targets(pid: int) -> list[str]:
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:  # closed while listing
            pass
    return targets


class Probe:
    """Reads one process's threads, database connections and descriptors. On PostgreSQL it asks through one
    connection opened before the load, so a server that has run out of connections cannot refuse the measuring."""

    def __init__(self, stack: Stack, pid: int) -> None:
        self.stack, self.pid = stack, pid
        self.conn = stack.connect() if stack.database_url else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def database_connections(self) -> int:
        if self.conn is not None:
            row = self.conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                    "AND pid <> pg_backend_pid()", (self.stack.name,)).fetchone()
            return row[0]
        return sum(target == self.stack.env["SQLITE_PATH"] for target in fd_targets(self.pid))

    def measure(self) -> dict[str, int]:
        # The fewest of a few samples: a waiter re-reads its call every 2 s and holds a connection for that instant.
        samples = []
        for _ in range(5):
            samples.append(self.database_connections())
            time.sleep(0.1)
        return {"threads": threads(self.pid), "db connections": min(samples),
                "file descriptors": len(fd_targets(self.pid))}


def warm_up(base_url: str, token: str) -> None:
    request = urllib.request.Request(base_url + "/api/call_histories", headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


async def fire(base_url: str, token: str, waits: int, twilio: FakeTwilio, probe: Probe,
               settle: float) -> tuple[dict[str, int], dict[int | str, int]]:
    """Start `waits` /make_call requests, wait until each is dialled or refused, measure, then drop them.

    The database connections are also sampled all along, for the peak of the burst (every request placing its call).
    """
    answered: dict[int | str, int] = {}
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, await asyncio.to_thread(probe.database_connections))
            await asyncio.sleep(0.02)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        try:
            async with session.post(base_url + "/make_call", json={"phone_number": f"+34{FIRST_NUMBER + n}"},
                                    headers={"Authorization": f"Token {token}"}) as response:
                await response.read()
                outcome = response.status
        except aiohttp.ClientError as exc:
            outcome = type(exc).__name__
        answered[outcome] = answered.get(outcome, 0) + 1

    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        sampler = asyncio.create_task(sample())
        tasks = [asyncio.create_task(one(session, n)) for n in range(waits)]
        deadline = time.monotonic() + 60 + waits
        while len(twilio.calls) + sum(answered.values()) < waits:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(twilio.calls)} of {waits} calls dialled; see {probe.stack.tmp}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle)  # every waiter past its first database read and parked on the layer
        sampler.cancel()
        loaded = await asyncio.to_thread(probe.measure)
        loaded["db connections, peak"] = peak
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, sampler, return_exceptions=True)
    return loaded, answered


def run(waits: int, max_waiters: int, settle: float, keep: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="make-call-bench-") as tmp, FakeTwilio() as twilio:
        stack = Stack(Path(tmp), extra_env={
            **twilio.voicebot_env(), "MAKE_CALL_TIMEOUT": "600", "MAKE_CALL_MAX_WAITERS": str(max_waiters),
            "LOG_LEVEL": "WARNING",
        })
        try:
            stack.prepare()
            base_url = f"http://127.0.0.1:{stack.start_daphne()}"
            probe = Probe(stack, stack.processes[-1].pid)
            try:
                warm_up(base_url, stack.token)
                time.sleep(settle)
                idle = probe.measure()
                idle["db connections, peak"] = idle["db connections"]
                loaded, answered = asyncio.run(fire(base_url, stack.token, waits, twilio, probe, settle))
            finally:
                probe.close()
        finally:
            stack.stop_all()
            if keep:
                print(stack.logs(tail=None))
    return {"idle": idle, "loaded": loaded, "answered": answered,
            "database": "postgresql" if stack.database_url else "sqlite",
            "layer": "redis" if stack.env.get("REDIS_URL") else "in-memory"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=int, default=200, help="concurrent /make_call requests left waiting")
    parser.add_argument("--max-waiters", type=int, default=0,
                        help="MAKE_CALL_MAX_WAITERS for the server (default: --waits, so none is refused)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to let the process settle before measuring")
    parser.add_argument("--keep", action="store_true", help="print the server's whole log at the end")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    result = run(args.waits, args.max_waiters or args.waits, args.settle, args.keep)
    waiting = args.waits - sum(result["answered"].values())
    result["waiting"] = waiting
    if args.json:
        print(json.dumps(result))
        return
    print(f"database={result['database']} layer={result['layer']} waits={args.waits} still waiting={waiting} "
          f"answered={result['answered']}")
    print(f"{'metric':<22}{'idle':>8}{'waiting':>10}{'diff':>8}{'per waiter':>12}")
    for name, idle in result["idle"].items():
        loaded = result["loaded"][name]
        per = (loaded - idle) / waiting if waiting else float("nan")
        print(f"{name:<22}{idle:>8}{loaded:>10}{loaded - idle:>8}{per:>12.2f}")


if __name__ == "__main__":
    main()
