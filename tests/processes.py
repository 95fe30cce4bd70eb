"""Real processes for end-to-end tests: Daphne serving the real ASGI app and a django-q2 `qcluster` worker.

They share a private database (a SQLite file, or the PostgreSQL/Redis named by DATABASE_URL/REDIS_URL in the
environment of the scale-out run) that the test reaches only through the product's doors, as a customer would.
"""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Stack:
    """One deployment of voicebot for a test: its environment, its processes, a staff token."""

    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    token: str = ""

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
            "SQLITE_PATH": str(self.tmp / "db.sqlite3"),
            "MEDIA_ROOT": str(self.tmp / "media"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def manage(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=check,
                              capture_output=True, text=True, timeout=timeout)

    def prepare(self) -> None:
        """Migrate and create a staff user with an API token."""
        self.manage("migrate", "--noinput", "-v", "0")
        script = (
            "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token;"
            "u = get_user_model().objects.create_superuser('ops', 'ops@example.com', 'pw-ops');"
            "print(Token.objects.create(user=u).key)"
        )
        self.token = self.manage("shell", "-c", script).stdout.strip().splitlines()[-1]

    def start_daphne(self, port: int | None = None) -> int:
        port = port or free_port()
        log = open(self.tmp / f"daphne-{port}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicebot_site.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        wait_for_port(port, process=process)
        return port

    def start_worker(self) -> subprocess.Popen:
        log = open(self.tmp / f"qcluster-{secrets.token_hex(3)}.log", "w")
        process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.env,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-4000:]}" for path in sorted(self.tmp.glob("*.log")))
