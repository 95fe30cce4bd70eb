"""A background task for the worker-crash test: its first run hangs (to be killed), any later run finishes."""
import time
from pathlib import Path


def attempt(log: str) -> int:
    """Append a line to `log` per run; the first run then sleeps until killed. Returns the run's number."""
    path = Path(log)
    with path.open("a") as file:
        file.write("started\n")
    runs = len(path.read_text().splitlines())
    if runs == 1:
        time.sleep(120)
    return runs
