"""`manage.py serve`: the product in one command, Daphne (HTTP + media stream) and a django-q2 worker.

Ctrl-C (or SIGTERM) stops both; if either dies, the other is stopped too so nothing runs half-alive.
"""
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start Daphne on HOST:PORT and a django-q2 worker; Ctrl-C stops both."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-worker", action="store_true", help="Start Daphne only.")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options) -> None:
        commands = [[sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "voicebot_site.asgi:application"]]
        if not no_worker:
            commands.append([sys.executable, "manage.py", "qcluster"])
        processes = [subprocess.Popen(command) for command in commands]
        self.stdout.write(self.style.SUCCESS(f"voicebot on http://{host}:{port}/admin/ (Ctrl-C stops)"))
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.2)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not stopping:
            raise SystemExit("A voicebot process exited unexpectedly; stopped the others.")
