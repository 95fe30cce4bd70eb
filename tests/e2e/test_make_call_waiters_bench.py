"""The /make_call waiters bench still runs, and a waiting /make_call still holds no database connection."""
import json
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow


def test_twenty_waiters_hold_no_database_connection():
    result = subprocess.run([sys.executable, "bench/make_call_waiters.py", "--waits", "20", "--settle", "2", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["waiting"] == 20 and report["answered"] == {}, report
    assert report["loaded"]["db connections"] <= report["idle"]["db connections"], report
    # Nor while they arrive: their database steps share a few threads (WAITER_DB_THREADS), not one connection each.
    assert report["loaded"]["db connections, peak"] <= 8, report
    # On SQLite a connection is a database file held open: each waiter costs its client's socket, no file besides.
    # (With Redis the channel layer's client pool may grow with how many arrived at once, not with how many wait;
    # there the database's own count, pg_stat_activity above, is the measure.)
    if report["database"] == "sqlite":
        assert report["loaded"]["file descriptors"] - report["idle"]["file descriptors"] <= 20 + 10, report
