"""A background task survives its worker being killed mid-task, with Redis configured as in a scale-out deployment.

Real `manage.py qcluster` processes (sentinel, worker, monitor, pusher) share the Stack's database; the first is
killed with SIGKILL, all of it, while the task runs; a second one must run the task again and finish it.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.polling import wait_for
from tests.processes import ROOT, Stack

pytestmark = pytest.mark.slow

ENQUEUE = "from django_q.tasks import async_task; print(async_task('tests.e2e.crash_task.attempt', {log!r}))"


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _worker(stack: Stack, name: str) -> subprocess.Popen:
    # A session of its own, so SIGKILL reaches every process of the cluster, as a crash or an OOM kill would.
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=stack.env,
                            stdout=open(stack.tmp / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_a_task_whose_worker_is_killed_runs_again_and_completes(tmp_path):
    stack = Stack(tmp_path, extra_env={
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "Q_WORKERS": "1", "Q_TIMEOUT": "5", "Q_RETRY": "8",
    })
    log = tmp_path / "runs.log"
    first = second = None
    try:
        stack.prepare()
        stack.manage("shell", "-c", ENQUEUE.format(log=str(log)))
        first = _worker(stack, "qcluster-killed")
        wait_for(lambda: _runs(log) == 1, timeout=60, interval=0.2, what="the worker to start the task")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        second = _worker(stack, "qcluster-after")
        wait_for(lambda: _runs(log) == 2, timeout=60, interval=0.3, what="another worker to run the task again")
        with stack.connect() as conn:
            done = lambda: conn.execute("SELECT success, result FROM django_q_task").fetchall()  # noqa: E731
            wait_for(lambda: done() != [], timeout=30, interval=0.3, what="the task's result")
            assert len(done()) == 1 and done()[0][0] in (1, True), stack.logs()
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)  # the test is over: no need for a graceful stop
                worker.wait(timeout=10)
        stack.stop_all()
