"""bench/import_bench.py still runs: a small import through the real script, on its own throwaway database."""
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "import_bench.py"


@pytest.mark.slow
def test_it_imports_a_generated_workbook_and_prints_the_speed():
    result = subprocess.run(
        [sys.executable, str(BENCH), "--rows", "2000"], capture_output=True, text=True, timeout=120, check=True
    )
    assert "imported 1,999 contacts, 1 rows reported as failed, 1,999 in the database" in result.stdout
    assert "rows/s" in result.stdout
