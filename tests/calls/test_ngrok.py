"""The public address: PUBLIC_BASE_URL, or an ngrok tunnel opened by `manage.py serve` (opener injected: offline)."""
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command

from django_q.models import Schedule

from calls.management.commands import serve
from calls.management.commands.setup_schedules import SCHEDULES
from calls.services.public_address import public_base_url_resolve
from extraction.management.commands.setup_extraction_schedules import PURGE_SCHEDULE
from tests.processes import ROOT

TUNNEL = "https://a1b2c3.ngrok-free.app"


class Opener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, address: str, token: str) -> str:
        self.calls.append((address, token))
        return TUNNEL + "/"


class FakeProcess:
    """Stands in for Daphne and qcluster: records how it was started, then 'exits' at once."""

    started: list["FakeProcess"] = []

    def __init__(self, command: list[str], env: dict | None = None, pass_fds=(), preexec_fn=None) -> None:
        self.command = self.args = command
        self.env, self.pid, self.returncode = env, 0, 0
        FakeProcess.started.append(self)

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0


@pytest.fixture
def fake_processes(monkeypatch, db):
    FakeProcess.started = []
    monkeypatch.setattr(serve.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(serve.signal, "signal", lambda *args: None)  # leave pytest's own Ctrl-C handler alone
    return FakeProcess.started


def run_serve(opener: Opener, *args: str) -> str:
    command = serve.Command(stdout=StringIO())
    command.open_tunnel = opener
    # call_command, not run_from_argv: that one closes every database connection when it ends, which on
    # PostgreSQL also ends the test's own transaction.
    with pytest.raises(SystemExit):  # the fake processes "exit" at once
        call_command(command, "--skip-checks", *args)
    return command.stdout._out.getvalue()


def test_without_a_token_no_tunnel_is_attempted(settings):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = "", ""
    opener = Opener()
    assert public_base_url_resolve(host="127.0.0.1", port=6060, opener=opener) == ("", False)
    assert opener.calls == []


def test_public_base_url_wins_over_a_token(settings):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = "https://calls.example.com/", "tok"
    opener = Opener()
    assert public_base_url_resolve(host="127.0.0.1", port=6060, opener=opener) == ("https://calls.example.com", False)
    assert opener.calls == []


def test_a_token_opens_a_tunnel_to_the_local_server(settings):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = "", "tok"
    opener = Opener()
    assert public_base_url_resolve(host="0.0.0.0", port=6061, opener=opener) == (TUNNEL, True)
    assert opener.calls == [("127.0.0.1:6061", "tok")]


def test_serve_hands_the_tunnel_url_to_daphne_and_the_worker(settings, fake_processes):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = "", "tok"
    opener = Opener()
    out = run_serve(opener, "--port", "6062", "--web-processes", "2")
    assert opener.calls == [("127.0.0.1:6062", "tok")]
    *daphnes, worker = fake_processes
    assert len(daphnes) == 2 and all("daphne" in daphne.command for daphne in daphnes)
    assert worker.command[-1] == "qcluster"
    assert {daphne.env["PUBLIC_BASE_URL"] for daphne in daphnes} == {worker.env["PUBLIC_BASE_URL"]} == {TUNNEL}
    assert f"Twilio reaches this server at {TUNNEL}" in out and f"export PUBLIC_BASE_URL={TUNNEL}" in out


def test_serve_without_a_token_opens_nothing_and_warns(settings, fake_processes):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = "", ""
    opener = Opener()
    out = run_serve(opener, "--port", "0")
    assert opener.calls == [] and all(process.env is None for process in fake_processes)
    assert "Twilio cannot reach this server" in out


def test_a_tunnelled_server_never_shows_debug_pages_and_says_so(settings, fake_processes, monkeypatch):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN, settings.DEBUG = "", "tok", True
    out = run_serve(Opener(), "--port", "0", "--web-processes", "1")
    monkeypatch.undo()  # real subprocesses again
    daphne, worker = fake_processes
    assert daphne.env["DEBUG"] == worker.env["DEBUG"] == "False"
    assert "the tunnel makes this server public: it runs with DEBUG=False" in out
    # What a stranger gets from the tunnel, in a process started with Daphne's environment: a plain 404.
    script = ("from django.test import Client; from django.conf import settings; "
              "r = Client().get('/no-such-page/', HTTP_HOST='a1b2c3.ngrok-free.app', secure=True); "
              "print(settings.DEBUG, r.status_code, 'URLconf' in r.content.decode())")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=daphne.env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[-1].split() == ["False", "404", "False"], result.stderr


def test_serve_creates_the_periodic_schedules(settings, fake_processes):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = "https://calls.example.com", ""
    run_serve(Opener(), "--port", "0")
    run_serve(Opener(), "--port", "0")  # every start: the same schedules, not two of each
    names = sorted(Schedule.objects.values_list("name", flat=True))
    assert names == sorted([*(spec["name"] for spec in SCHEDULES), PURGE_SCHEDULE])
    assert "calls-reconcile-stale" in names


def test_the_processes_accept_requests_for_the_tunnel_host():
    env = {**os.environ, "PUBLIC_BASE_URL": TUNNEL, "ALLOWED_HOSTS": "", "DEBUG": "true"}
    script = "from django.conf import settings; print(settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS)"
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert "'a1b2c3.ngrok-free.app'" in out and "'localhost'" in out and f"'{TUNNEL}'" in out


@pytest.mark.parametrize("public_base_url, token, warned", [
    ("", "", True), ("https://calls.example.com", "", False), ("", "tok", False),
])
def test_the_system_check_warns_when_twilio_cannot_reach_us(settings, public_base_url, token, warned):
    settings.PUBLIC_BASE_URL, settings.NGROK_TOKEN = public_base_url, token
    ids = [message.id for message in checks.run_checks()]
    assert ("calls.W003" in ids) is warned


def test_the_ngrok_sdk_is_installed():
    import ngrok

    assert callable(ngrok.forward)
