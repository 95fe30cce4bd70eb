"""N whole calls at once through `POST /make_call`, against 1 call alone in the same invocation.

    .venv/bin/python bench/calls_at_once.py --calls 10,25,50
    .venv/bin/python bench/calls_at_once.py --database-url postgres://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/13

Each N gets a fresh `make run`-like deployment (tests/processes.py Stack: one Daphne, one qcluster; SQLite via
SQLITE_PATH, or with --database-url a private database created on that server, and with --redis-url a private key
prefix, both removed at the end) and the fakes and script of tests/e2e/test_full_call.py: FakeTwilio with simulated
phones streaming real speech in real time, the fake Realtime server (greeting, the callee speaks, the bot answers,
end_call, goodbye, hang-up), the fake OpenAI REST server for the transcript and extraction afterwards.
N integrators post /make_call at once; per N the table prints:
- completed: calls whose /make_call answered 200 with call_status=completed, of those placed;
- cb non-2xx: status callbacks the phones delivered and the server answered non-2xx (or not at all);
- spooled: callback files seen in WEBHOOK_SPOOL_DIR (sampled every 50 ms, as the worker applies and removes them);
- rec err p50/max: |recording length - stream length the phone knows| in ms;
- make_call p50/max: seconds each /make_call took;
- extracted: calls whose history shows the extracted fields before the deadline.
Read each row against the first (1 call alone). A call the bot did not end lasts until the phone hangs up at 25 s,
which shows in make_call max. Callee alignment is not measured: the whole-system test has no
measure of it (only the recording length against the stream's).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.test_full_call import (  # noqa: E402
    BOT_TONE_HZ, BOT_WORDS, CLIENT_WORDS, EXTRACTED, KEY, PUBLIC, _scenario,
)
from tests.fakes.openai_realtime import FakeRealtimeServer  # noqa: E402
from tests.fakes.openai_rest import OpenAIRestFake  # noqa: E402
from tests.fakes.phone import SimulatedPhones  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.processes import Stack  # noqa: E402

FIRST_NUMBER = 611_000_000


class PerCallRealtime(FakeRealtimeServer):
    """The fake Realtime server playing the whole-system test's script to every call: the fake numbers its replies
    across the server (one call per test), so N calls at once would share one script and most would never hear
    end_call; here each session counts its own."""

    def _start_response(self, session) -> None:
        index = getattr(session, "bench_responses", 0)
        session.bench_responses = index + 1
        self._responses_started = index
        super()._start_response(session)


def _wav_seconds(data: bytes) -> float:
    import io

    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


async def _spool_sampler(folder: Path, seen: set[str]) -> None:
    while True:
        if folder.is_dir():
            seen.update(p.name for p in folder.rglob("*.json"))
        await asyncio.sleep(0.05)


async def _one_call(session: aiohttp.ClientSession, url: str, auth: dict, number: str,
                    timeout: float) -> tuple[float, dict | None, str]:
    started = time.monotonic()
    try:
        async with session.post(url + "/make_call", json={"phone_number": number}, headers=auth,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.json(content_type=None)
            return time.monotonic() - started, body, str(response.status)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        return time.monotonic() - started, None, type(exc).__name__


async def _processed(session, url, auth, number, sid, deadline) -> dict | None:
    while time.monotonic() < deadline:
        async with session.get(url + "/api/call_histories", params={"phone_number": number}, headers=auth) as r:
            records = await r.json(content_type=None) if r.status == 200 else []
        record = next((r for r in records if r.get("call_sid") == sid), None)
        if record and (record.get("extracted_info") or record.get("extraction_error")):
            return record
        await asyncio.sleep(1)
    return None


async def run_n(n: int, *, database_url: str, redis_url: str, call_timeout: float, keep: bool) -> dict:
    """One deployment, n simultaneous calls; returns the row's numbers."""
    with tempfile.TemporaryDirectory(prefix="calls-at-once-") as tmp_name:
        tmp = Path(tmp_name)
        spool = tmp / "spool"
        async with PerCallRealtime(_scenario()) as realtime:
            with OpenAIRestFake(api_key=KEY, voices={BOT_TONE_HZ: BOT_WORDS}, default_words=CLIENT_WORDS,
                                chat_answer=EXTRACTED) as rest, FakeTwilio(public_base_url=PUBLIC) as twilio:
                env = {
                    **twilio.voicebot_env(), "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": rest.base_url,
                    "OPENAI_REALTIME_BASE_URL": realtime.base_url.replace("http://", "ws://"),
                    "CALL_DURATION_LIMIT": "30", "SILENCE_TIMEOUT": "0", "PROCESSING_RETRY_BACKOFF": "0.1",
                    "WEBHOOK_SPOOL_DIR": str(spool), "MAKE_CALL_TIMEOUT": str(int(call_timeout)),
                    "MAKE_CALL_MAX_WAITERS": str(max(n, 1) * 2), "LOG_LEVEL": "WARNING",
                }
                if database_url:
                    env["DATABASE_URL"] = database_url
                if redis_url:
                    env["REDIS_URL"] = redis_url
                stack = Stack(tmp, extra_env=env)
                try:
                    await asyncio.to_thread(stack.prepare)
                    port = await asyncio.to_thread(stack.start_daphne)
                    stack.start_worker()
                    url = f"http://127.0.0.1:{port}"
                    auth = {"Authorization": f"Token {stack.token}"}
                    seen: set[str] = set()
                    sampler = asyncio.create_task(_spool_sampler(spool, seen))
                    async with SimulatedPhones(twilio, url, hang_up_after_s=25) as phones, aiohttp.ClientSession(
                            connector=aiohttp.TCPConnector(limit=0)) as session:
                        numbers = [f"+34{FIRST_NUMBER + i}" for i in range(n)]
                        answers = await asyncio.gather(*(
                            _one_call(session, url, auth, number, call_timeout + 30) for number in numbers))
                        deadline = time.monotonic() + 60 + 2 * n
                        records = await asyncio.gather(*(
                            _processed(session, url, auth, number, body["call_sid"], deadline)
                            for number, (_, body, _) in zip(numbers, answers) if body and body.get("call_sid")))
                        rec_errors = []
                        for record in records:
                            if not record or not record.get("audio_file_name"):
                                continue
                            outcome = phones.outcomes.get(record["call_sid"])
                            if not outcome or not outcome.media or outcome.media.ended_ms is None:
                                continue
                            async with session.get(url + "/" + record["audio_file_name"], headers=auth) as r:
                                if r.status != 200:
                                    continue
                                seconds = _wav_seconds(await r.read())
                            rec_errors.append(abs(seconds * 1000 - outcome.media.ended_ms))
                        await asyncio.sleep(1)  # the last callbacks land (and spool) after the calls end
                        callbacks = [c for o in phones.outcomes.values() for c in o.callbacks]
                    sampler.cancel()
                    await asyncio.gather(sampler, return_exceptions=True)
                finally:
                    await asyncio.to_thread(stack.stop_all)
                    if keep:
                        print(stack.logs(tail=None))
        times = [seconds for seconds, _, _ in answers]
        completed = sum(1 for _, body, status in answers
                        if status == "200" and body and body.get("call_status") == "completed")
        return {
            "n": n, "placed": len(twilio.calls), "completed": completed,
            "failures": sorted({status for _, _, status in answers if status != "200"}),
            "callbacks": len(callbacks), "non_2xx": sum(1 for c in callbacks if c is None or not 200 <= c < 300),
            "spooled": len(seen),
            "rec_p50": statistics.median(rec_errors) if rec_errors else float("nan"),
            "rec_max": max(rec_errors) if rec_errors else float("nan"), "rec_n": len(rec_errors),
            "mc_p50": statistics.median(times), "mc_max": max(times),
            "extracted": sum(1 for r in records if r and r.get("extracted_info") == EXTRACTED),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="10,25,50", help="comma-separated numbers of simultaneous calls")
    parser.add_argument("--database-url", default="", help="sqlite:///path or a PostgreSQL server URL "
                        "(a private database is created on it and dropped); default: SQLite via SQLITE_PATH")
    parser.add_argument("--redis-url", default="", help="Redis for the channel layer and queue, private prefix")
    parser.add_argument("--call-timeout", type=float, default=90, help="MAKE_CALL_TIMEOUT and the client's bound")
    parser.add_argument("--no-reference", action="store_true", help="skip the 1-call reference row")
    parser.add_argument("--keep", action="store_true", help="print the deployment's whole logs after each run")
    args = parser.parse_args()
    counts = [int(part) for part in args.calls.split(",") if part.strip()]
    if not args.no_reference and counts[:1] != [1]:
        counts.insert(0, 1)
    database = args.database_url.split(":", 1)[0] if args.database_url else "sqlite (SQLITE_PATH)"
    print(f"database={database} layer={'redis' if args.redis_url else 'in-memory'} reference=first row")
    print(f"{'calls':>5} {'completed':>10} {'cb non-2xx':>10} {'spooled':>8} {'rec err p50/max ms':>19} "
          f"{'make_call p50/max s':>20} {'extracted':>9}")
    for n in counts:
        row = asyncio.run(run_n(n, database_url=args.database_url, redis_url=args.redis_url,
                                call_timeout=args.call_timeout, keep=args.keep))
        print(f"{n:>5} {row['completed']:>4}/{row['placed']:<5} {row['non_2xx']:>4}/{row['callbacks']:<5} "
              f"{row['spooled']:>8} {row['rec_p50']:>9.0f}/{row['rec_max']:<9.0f} "
              f"{row['mc_p50']:>10.2f}/{row['mc_max']:<9.2f} {row['extracted']:>9}"
              + (f"  failures={row['failures']}" if row["failures"] else ""), flush=True)


if __name__ == "__main__":
    main()
