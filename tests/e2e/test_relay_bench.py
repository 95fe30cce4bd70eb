"""The relay bench still runs: one call for two seconds through a real Daphne, every frame accounted for."""
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow


def test_the_relay_bench_runs_one_call_without_losing_frames():
    result = subprocess.run([sys.executable, "bench/relay_bench.py", "--calls", "1", "--seconds", "2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = max(i for i, line in enumerate(lines) if line.split()[:1] == ["calls"])
    calls, up_p50, _, _, down_p50, _, _, lost_up, lost_down = lines[header + 1].split()[:9]
    assert calls == "1"
    assert (lost_up, lost_down) == ("0", "0")
    assert float(up_p50) > 0 and float(down_p50) > 0  # frames went both ways and were timed
