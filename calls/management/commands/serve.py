"""`manage.py serve`: the product in one command, Daphne (HTTP + media stream) and a django-q2 worker.

It first creates (or updates) the periodic jobs the worker runs: stale-call reconciliation and recording retention.
Daphne runs as `--web-processes` processes (WEB_PROCESSES, `auto`: one per usable core) sharing one listening
socket, which this process binds and hands to each (voicebot_site/web_processes.py): a connection, and so a call's
media stream, stays in the process that accepted it.
Ctrl-C (or SIGTERM) stops them all; if any dies, the others are stopped too so nothing runs half-alive.
When PUBLIC_BASE_URL is empty and NGROK_TOKEN is set, an ngrok tunnel is opened here, once, and its URL handed to
every process as PUBLIC_BASE_URL: Daphne receives Twilio's requests, the worker dials calls that point Twilio at it.
A tunnelled server is public, so it runs with DEBUG off whatever the settings say, and says so.
"""
import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from calls.services.public_address import ngrok_open, public_base_url_resolve, tunnelled_environment
from voicebot_site.web_processes import (
    daphne_command, die_with_parent, is_ipv6, listening_socket, web_processes_count,
)

SCHEDULE_COMMANDS = ("setup_schedules", "setup_extraction_schedules")
# After Ctrl-C or SIGTERM, how long the processes together get to finish what they hold (Daphne gives a request
# 10 s, its application_close_timeout) before they are killed: well under a process manager's own stop timeout
# (systemd's is 90 s), which would kill serve first.
STOP_SECONDS = 12.0


class Command(BaseCommand):
    help = ("Start Daphne on HOST:PORT (WEB_PROCESSES processes sharing it) and a django-q2 worker (and an ngrok "
            "tunnel if asked); Ctrl-C stops them all.")
    open_tunnel = staticmethod(ngrok_open)  # the test swaps in its own opener

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-worker", action="store_true", help="Start Daphne only.")
        parser.add_argument("--web-processes", type=_count, default=settings.WEB_PROCESSES,
                            help="Daphne processes sharing the port: `auto` (one per usable core) or a number "
                                 "(default: WEB_PROCESSES, now %(default)s).")

    def handle(self, *args, host: str, port: int, no_worker: bool, web_processes: int, **options) -> None:
        if web_processes > 1 and is_ipv6(host):
            raise CommandError(f"HOST {host} is IPv6: several web processes share an IPv4 socket only. Use an IPv4 "
                               "HOST (0.0.0.0 for every interface) or WEB_PROCESSES=1.")
        try:
            # Bound here, before anything starts: a port in use is one clear error, not N dying children.
            shared = None if is_ipv6(host) else listening_socket(host=host, port=port)
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{port}: {error.strerror or error}") from None
        with shared or contextlib.nullcontext():  # the children hold their own copies once started
            port = shared.getsockname()[1] if shared else port  # --port 0: the one the system chose
            for command in SCHEDULE_COMMANDS:
                call_command(command, stdout=self.stdout)
            url, tunnelled = public_base_url_resolve(host=host, port=port, opener=self.open_tunnel)
            # The children's settings then accept the tunnel's host too (see PUBLIC_BASE_URL in settings).
            env = {**os.environ, **tunnelled_environment(url=url)} if tunnelled else None
            child = {"env": env, "preexec_fn": die_with_parent()}  # they end with this process, even a killed one
            if shared is None:
                processes = [subprocess.Popen(daphne_command(host=host, port=port), **child)]
            else:
                processes = [subprocess.Popen(daphne_command(fd=shared.fileno()), pass_fds=[shared.fileno()], **child)
                             for _ in range(web_processes)]
        if not no_worker:
            processes.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], **child))
        plural = "es" if web_processes > 1 else ""
        what = f"{web_processes} web process{plural}" + ("" if no_worker else " + a worker")
        self.stdout.write(self.style.SUCCESS(f"voicebot on http://{host}:{port}/admin/ ({what}; Ctrl-C stops)"))
        self._say_where_twilio_calls(url, tunnelled)
        _supervise(processes)

    def _say_where_twilio_calls(self, url: str, tunnelled: bool) -> None:
        if tunnelled:
            self.stdout.write(self.style.SUCCESS(f"ngrok tunnel: Twilio reaches this server at {url}"))
            self.stdout.write(f"To place calls from another shell: export PUBLIC_BASE_URL={url}")
            if settings.DEBUG:
                self.stdout.write(self.style.WARNING(
                    "DEBUG is on in the settings, but the tunnel makes this server public: it runs with DEBUG=False "
                    "(no debug pages on the internet)."
                ))
        elif url and settings.DEBUG and not settings.DEMO_MODE:  # the demo's address exists nowhere
            self.stdout.write(self.style.WARNING(
                f"DEBUG is on: if {url} is reachable from the internet, so are its debug pages. Set DEBUG=False."
            ))
        elif not url:
            self.stdout.write(self.style.WARNING(
                "PUBLIC_BASE_URL and NGROK_TOKEN are both empty: Twilio cannot reach this server, calls will fail."
            ))


def _supervise(processes: list[subprocess.Popen]) -> None:
    """Wait for Ctrl-C, SIGTERM or any process to end; then stop them all. Raises SystemExit when one died."""
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exited: list[subprocess.Popen] = []
    while not stopping and not exited:
        time.sleep(0.2)
        exited = [p for p in processes if p.poll() is not None]
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS  # one for all: N processes must not take N times as long
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if not stopping:
        died = ", ".join(f"{_name(p)} (pid {p.pid}, exit status {p.returncode})" for p in exited)
        raise SystemExit(f"A voicebot process exited unexpectedly: {died}; stopped the others.")


def _count(value: str) -> int:
    try:
        return web_processes_count(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _name(process: subprocess.Popen) -> str:
    return "Daphne" if "daphne" in process.args else "the worker"
