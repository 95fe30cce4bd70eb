"""`manage.py serve`: the product in one command, Daphne (HTTP + media stream) and a django-q2 worker.

It first creates (or updates) the periodic jobs the worker runs: stale-call reconciliation and recording retention.
Ctrl-C (or SIGTERM) stops both; if either dies, the other is stopped too so nothing runs half-alive.
When PUBLIC_BASE_URL is empty and NGROK_TOKEN is set, an ngrok tunnel is opened here, once, and its URL handed to
both processes as PUBLIC_BASE_URL: Daphne receives Twilio's requests, the worker dials calls that point Twilio at it.
A tunnelled server is public, so it runs with DEBUG off whatever the settings say, and says so.
"""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from calls.services.public_address import ngrok_open, public_base_url_resolve, tunnelled_environment

SCHEDULE_COMMANDS = ("setup_schedules", "setup_extraction_schedules")


class Command(BaseCommand):
    help = "Start Daphne on HOST:PORT and a django-q2 worker (and an ngrok tunnel if asked); Ctrl-C stops both."
    open_tunnel = staticmethod(ngrok_open)  # the test swaps in its own opener

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-worker", action="store_true", help="Start Daphne only.")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options) -> None:
        commands = [[sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "voicebot_site.asgi:application"]]
        if not no_worker:
            commands.append([sys.executable, "manage.py", "qcluster"])
        for command in SCHEDULE_COMMANDS:
            call_command(command, stdout=self.stdout)
        url, tunnelled = public_base_url_resolve(host=host, port=port, opener=self.open_tunnel)
        # The children's settings then accept the tunnel's host too (see PUBLIC_BASE_URL in settings).
        env = {**os.environ, **tunnelled_environment(url=url)} if tunnelled else None
        processes = [subprocess.Popen(command, env=env) for command in commands]
        self.stdout.write(self.style.SUCCESS(f"voicebot on http://{host}:{port}/admin/ (Ctrl-C stops)"))
        self._say_where_twilio_calls(url, tunnelled)
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

    def _say_where_twilio_calls(self, url: str, tunnelled: bool) -> None:
        if tunnelled:
            self.stdout.write(self.style.SUCCESS(f"ngrok tunnel: Twilio reaches this server at {url}"))
            self.stdout.write(f"To place calls from another shell: export PUBLIC_BASE_URL={url}")
            if settings.DEBUG:
                self.stdout.write(self.style.WARNING(
                    "DEBUG is on in the settings, but the tunnel makes this server public: it runs with DEBUG=False "
                    "(no debug pages on the internet)."
                ))
        elif url and settings.DEBUG:
            self.stdout.write(self.style.WARNING(
                f"DEBUG is on: if {url} is reachable from the internet, so are its debug pages. Set DEBUG=False."
            ))
        elif not url:
            self.stdout.write(self.style.WARNING(
                "PUBLIC_BASE_URL and NGROK_TOKEN are both empty: Twilio cannot reach this server, calls will fail."
            ))
