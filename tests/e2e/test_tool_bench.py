"""The HTTP tool bench still runs: both runs time every frame, and in the second the slow tool really ran (the bench
asserts it was called, answered and had its filler asked for)."""
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow


def test_the_tool_bench_times_every_frame_with_and_without_a_slow_tool():
    result = subprocess.run([sys.executable, "bench/tool_bench.py", "--seconds", "3", "--tool-delay", "1.5"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:3]] == ["no", "tool"]
    assert lines[-1].startswith("B/A: up p99") and "frames A 150/150, B 150/150" in lines[-1]
