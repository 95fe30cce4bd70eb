"""`manage.py demo` (what `make demo` runs): the product with no accounts, on the simulator, in demo mode.

It starts the simulator (`python -m simulator`: Twilio and OpenAI on loopback ports), then, with the environment
that points at it and DEMO_MODE on, migrates the demo's own database in DEMO_DIR (never the one `make run` uses),
seeds it (`demo_seed`: a few contacts and a staff login, printed) and runs `manage.py serve` on 127.0.0.1:PORT.
Whatever the .env says, the demo's processes get the settings below, so nothing of a real deployment is reached.
Ctrl-C (or SIGTERM) stops them all.
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voicebot_site.web_processes import die_with_parent

STOP_SECONDS = 15.0  # serve's own stop (12 s) and a margin


def demo_environment(*, folder: Path, port: int) -> dict[str, str]:
    """The demo's settings: its own files under `folder`, loopback only, the shipped AI/ files; blank is default."""
    return {
        "DEMO_MODE": "true", "DEBUG": "true", "HOST": "127.0.0.1", "PORT": str(port), "ALLOWED_HOSTS": "",
        "SECURE_SSL_REDIRECT": "", "SECURE_HSTS_SECONDS": "",  # plain http on loopback, whatever production says
        "DATABASE_URL": "", "SQLITE_PATH": str(folder / "db.sqlite3"), "MEDIA_ROOT": str(folder / "media"),
        "CACHE_DIR": str(folder / "cache"), "WEBHOOK_SPOOL_DIR": str(folder / "webhook_spool"), "REDIS_URL": "",
        "NGROK_TOKEN": "", "AI_CONFIG_DIR": "", "EXTRACTION_SCHEMA": "", "TRANSCRIPT_SOURCE": "",
        "OPENING_CACHE": "false", "DEFAULT_PHONE_REGION": "ES", "ALLOWED_CALL_COUNTRIES": "ES",
    }


class Command(BaseCommand):
    help = ("Try voicebot with no accounts: the simulator stands in for Twilio and OpenAI, with a demo database in "
            "DEMO_DIR and a printed staff login; Ctrl-C stops it.")
    requires_system_checks = []  # this process only starts the others, which check their own (demo) settings

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=settings.PORT)

    def handle(self, *args, port: int, **options) -> None:
        folder = Path(settings.DEMO_DIR).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **demo_environment(folder=folder, port=port)}
        stop = _stop_on_signals()
        simulator = [sys.executable, "-m", "simulator", "--product-url", url]
        with _started(simulator, env=env, stdout=subprocess.PIPE, text=True) as simulated:
            line = simulated.stdout.readline()
            if not line:
                raise CommandError("The simulator did not start (see above).")
            env.update(json.loads(line))
            manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
            _manage(manage, ["migrate", "--noinput"], env=env, stdout=subprocess.DEVNULL)
            login = _manage(manage, ["demo_seed"], env=env, stdout=subprocess.PIPE)
            serve = [*manage, "serve", "--host", "127.0.0.1", "--port", str(port)]
            with _started(serve, env=env) as served:
                _wait_listening(port, served)
                self.stdout.write(self.style.SUCCESS(
                    f"\nvoicebot demo: calls are simulated, nobody is phoned.\nOpen {url}/admin/ and log in:\n"
                    f"{login}Demo data: {folder} (delete it to start over)\nCtrl-C stops the demo.\n"))
                while not stop() and served.poll() is None and simulated.poll() is None:
                    time.sleep(0.2)
        if not stop():
            raise CommandError("A demo process exited unexpectedly (see above); stopped the others.")


def _manage(manage: list[str], args: list[str], **options) -> str:
    """Run `manage.py args` in the demo's environment; its output (when piped)."""
    try:
        return subprocess.run([*manage, *args], check=True, text=True, **options).stdout
    except subprocess.CalledProcessError:
        raise CommandError(f"`manage.py {' '.join(args)}` failed on the demo database (see above).") from None


def _stop_on_signals() -> Callable[[], bool]:
    """Ctrl-C and SIGTERM set a flag (the children get their own Ctrl-C, or are stopped on the way out)."""
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stopping.append(True))
    return lambda: bool(stopping)


@contextlib.contextmanager
def _started(command: list[str], **options) -> Iterator[subprocess.Popen]:
    """A child process that is stopped (SIGTERM, then killed after STOP_SECONDS) when the block ends."""
    process = subprocess.Popen(command, preexec_fn=die_with_parent(), **options)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise CommandError(f"voicebot did not start listening on 127.0.0.1:{port} (see above).")
