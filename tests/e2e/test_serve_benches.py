"""The two benches of `manage.py serve --web-processes` still run, each in a small round."""
import re
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow


def _run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_relay_cores_bench_carries_a_call_through_one_and_two_processes():
    out = _run("bench/relay_cores.py", "--processes", "2", "--seconds", "2", "--start", "2", "--most", "2",
               "--p99-ms", "100000")  # a bound no round misses: the rounds are what is checked, not the machine
    rounds = re.findall(r"(\d) process\(es\),\s+2 calls: .* lost (\d+)/(\d+), stream errors (\d+), calls per "
                        r"process ([\d/]+)", out)
    assert [(processes, lost_up, lost_down, errors) for processes, lost_up, lost_down, errors, _ in rounds] == [
        ("1", "0", "0", "0"), ("2", "0", "0", "0")], out
    assert sum(map(int, rounds[1][4].split("/"))) == 2, "both calls' streams held by the two processes"
    assert "1 process 2 [2], 2 processes 2 [2], ratio 1.00" in out


def test_the_make_call_wake_bench_times_both_cases():
    out = _run("bench/make_call_wake.py", "--calls", "1")
    assert "callbacks on the waiter's process" in out and "callbacks on the other process" in out, out
