"""N whole calls at once through `POST /make_call`, against 1 call alone in the same invocation.

    .venv/bin/python bench/calls_at_once.py --calls 10,25,50
    .venv/bin/python bench/calls_at_once.py --database-url sqlite:////tmp/bench.sqlite3
    .venv/bin/python bench/calls_at_once.py --database-url postgres://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/13

Each N gets a fresh `make run`-like deployment and N simulated phones (tests/calls_at_once.py says what runs: one
Daphne, one qcluster, SQLite via SQLITE_PATH by default, the fakes and script of tests/e2e/test_full_call.py, all on
this machine, the phones and fakes in this process). Per N the table prints:
- completed: calls whose /make_call answered 200 with call_status=completed, of those placed;
- cb lost: status callbacks the phones delivered that the server answered non-2xx (or not at all), of all delivered;
- spooled: callback files seen in WEBHOOK_SPOOL_DIR (sampled every 50 ms, as the worker applies and removes them);
- len err p50/max: |recording length - stream length the phone knows|, ms;
- align err p50/max: the worst shift, per call, of any run of the bot's or the callee's speech in the recording from
  where the phone played or sent it, ms (tests/recording_timing.py);
- make_call p50/max: seconds each /make_call took (the call lasts about 6 s);
- extracted: calls whose history shows the extracted fields before the deadline.
Read each row against the first (1 call alone).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.calls_at_once import Run, run_calls_at_once  # noqa: E402


def _p50_max(values: list[float]) -> str:
    if not values:
        return f"{'-':>9}/{'-':<9}"
    return f"{statistics.median(values):>9.0f}/{max(values):<9.0f}"


def _row(run: Run) -> str:
    timings = [result.timing for result in run.calls if result.timing]
    callbacks = [code for result in run.calls if result.phone for code in result.phone.callbacks]
    lost = sum(len(result.callbacks_refused) for result in run.calls)
    seconds = [result.seconds for result in run.calls]
    failures = sorted({result.http for result in run.calls if result.http != "200"})
    return (f"{run.n:>5} {sum(r.completed for r in run.calls):>4}/{run.placed:<5} {lost:>4}/{len(callbacks):<5} "
            f"{run.spooled:>7} {_p50_max([t.length_error_ms for t in timings])} "
            f"{_p50_max([t.alignment_error_ms for t in timings])} "
            f"{statistics.median(seconds):>8.2f}/{max(seconds):<8.2f} {sum(r.extracted for r in run.calls):>9}"
            + (f"  failures={failures}" if failures else ""))


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
    print(f"{'calls':>5} {'completed':>10} {'cb lost':>10} {'spooled':>7} {'len err p50/max ms':>19} "
          f"{'align err p50/max ms':>19} {'make_call p50/max s':>17} {'extracted':>9}")
    for n in counts:
        run = asyncio.run(run_calls_at_once(n, database_url=args.database_url, redis_url=args.redis_url,
                                            call_timeout=args.call_timeout, keep_logs=args.keep))
        print(_row(run), flush=True)
        if args.keep:
            print(run.logs)


if __name__ == "__main__":
    main()
