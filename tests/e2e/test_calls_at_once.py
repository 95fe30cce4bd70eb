"""Twenty-five whole calls at once on one deployment as a small business runs it (one Daphne, one worker), through
`POST /make_call`, with simulated phones and the fakes of the full-call test (tests/calls_at_once.py).

Per call: /make_call answers `completed`, no status callback is refused (each one is applied or spooled and applied
later), the goodbye plays before the hang-up, the recording is as long as the stream and every run of speech sits
where it was heard, within 40 ms (plus however late the phones' own loop ran during the call, on a machine too
busy to keep them on time: they know when they played or received anything only that well), and the data is
extracted. On the embedded default (SQLITE_PATH), again with
`DATABASE_URL=sqlite:///...`, and in `make test-scale` on PostgreSQL + Redis (the run's own DATABASE_URL/REDIS_URL).
"""
import os

import pytest

from tests.calls_at_once import CallResult, Run, run_calls_at_once
from tests.processes import uses_postgresql

pytestmark = pytest.mark.slow

CALLS = 25
TOLERANCE_MS = 40


def _problems(result: CallResult) -> list[str]:
    problems = []
    if not result.completed:
        problems.append(f"/make_call answered {result.http} {result.body}")
    if result.callbacks_refused:
        problems.append(f"status callbacks refused: {result.callbacks_refused}")
    if not result.goodbye_played:
        media = result.phone.media if result.phone else None
        problems.append(f"the goodbye did not play before voicebot hung up: ended_by={result.phone and result.phone.ended_by}"
                        f" ended_ms={media and media.ended_ms} marks={media and media.marks_returned_at[-3:]}"
                        f" played={media and [(round(p.stream_ms), len(p.payload) // 8) for p in media.played[-4:]]}")
    if result.timing is None:
        problems.append("no recording to measure")
    elif (result.timing.length_error_ms > TOLERANCE_MS
          or result.timing.alignment_error_ms > TOLERANCE_MS + result.generator_lag_ms):
        problems.append(f"recording off: {result.timing}, the phones' own loop up to "
                        f"{result.generator_lag_ms:.0f} ms late")
    if not result.extracted:
        problems.append(f"not extracted: {result.record}")
    return problems


def _report(run: Run) -> str:
    lines = [f"{result.number}: {'; '.join(problems)}" for result in run.calls if (problems := _problems(result))]
    return "\n".join(lines) + "\n" + run.logs


@pytest.mark.parametrize("database", ["as_configured", "sqlite_url"])
async def test_twenty_five_calls_at_once_each_complete_true_to_the_stream_and_processed(database, tmp_path):
    database_url = ""
    if database == "sqlite_url":
        if uses_postgresql(os.environ.get("DATABASE_URL", "")):
            pytest.skip("the scale-out run is about PostgreSQL + Redis; `make test` runs the SQLite URL")
        database_url = f"sqlite:///{tmp_path}/voicebot.sqlite3"

    run = await run_calls_at_once(CALLS, database_url=database_url)

    assert run.placed == CALLS and len(run.calls) == CALLS
    assert all(not _problems(result) for result in run.calls), _report(run)
