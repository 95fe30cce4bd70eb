"""The relay bench still runs: one call for two seconds through a real Daphne, through the reference relay and
through Daphne's floor (the reference's logic as a bare ASGI app), every frame accounted for on all three."""
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow


def test_the_relay_bench_runs_one_call_on_every_server_without_losing_frames():
    result = subprocess.run([sys.executable, "bench/relay_bench.py", "--calls", "1", "--seconds", "2",
                             "--patterns", "200", "--floor"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = max(i for i, line in enumerate(lines) if line.split()[:1] == ["calls"])
    rows = {line.split()[1]: line.split() for line in lines[header + 1:header + 4]}
    assert rows.keys() == {"reference", "floor", "voicebot"}
    for calls, _, up_p50, _, down_p50, _, lost_up, lost_down, _, first_p50, *_ in rows.values():
        assert calls == "1"
        assert (lost_up, lost_down) == ("0", "0")
        assert float(up_p50) > 0 and float(down_p50) > 0 and float(first_p50) > 0  # frames went both ways, timed
    assert "floor/reference: up p99" in lines[header + 4] and "voicebot/reference: up p99" in lines[header + 5]
