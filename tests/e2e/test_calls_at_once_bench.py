"""The calls-at-once bench runs to the end and prints its row (bench/calls_at_once.py)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_bench_prints_a_row_for_one_call():
    result = subprocess.run([sys.executable, "bench/calls_at_once.py", "--calls", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)

    assert result.returncode == 0, result.stdout + result.stderr
    row = re.search(r"^\s*1\s+1/1\s+0/(\d+)\s+\d+\s+[\d.]+/[\d.]+\s+[\d.]+/[\d.]+\s+[\d.]+/[\d.]+\s+1\s+\d+$",
                    result.stdout, re.M)
    assert row and int(row[1]) >= 4, result.stdout
