"""The calls-at-once bench runs to the end and reports what it measures (bench/calls_at_once.py)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent


def test_two_calls_at_once_all_complete_and_no_callback_is_lost():
    result = subprocess.run([sys.executable, "bench/calls_at_once.py", "--calls", "2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)

    assert result.returncode == 0, result.stdout + result.stderr
    rows = {int(m[1]): m for m in re.finditer(r"^\s*(\d+)\s+(\d+)/(\d+)\s+(\d+)/(\d+)\s+(\d+)\s.*\s(\d+)$",
                                             result.stdout, re.M)}
    assert set(rows) == {1, 2}, result.stdout
    two = rows[2]
    assert (two[2], two[3]) == ("2", "2"), "2 of 2 calls completed"
    assert two[4] == "0" and int(two[5]) >= 8, "no status callback answered non-2xx (4 per call delivered)"
    assert two[7] == "2", "both calls' data extracted"
