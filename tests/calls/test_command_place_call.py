"""`manage.py place_call` against FakeTwilio over a real socket.

Two ways in. In this process (the command in a thread) for what needs no callback: dry runs, refusals, unreadable
files, cancel and timeout. The test database is an in-memory SQLite shared between threads, which cannot take a
write from one thread while another reads, so every test where Twilio's callbacks arrive *while* the command waits
runs the command as an operator does: its own process, beside a real Daphne that receives the signed callbacks,
sharing a SQLite file (tests.processes.Stack). That is also the proof that the wait works across processes with
the default setup (no Redis): the command learns of each end only by re-reading the database.
"""
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from io import StringIO
from pathlib import Path

import openpyxl
import pytest
import requests
from django.core.management import CommandError, call_command

from calls.services import call_lists
from calls.management.commands.place_call import Command
from calls.models import Call
from contacts.formulas import escape_formula
from contacts.models import Contact
from tests.factories import ContactFactory
from simulator.twilio import FakeTwilio
from simulator.polling import wait_for
from tests.processes import ROOT, Stack

pytestmark = pytest.mark.django_db(transaction=True)

ANA, LUIS, EVA = "+34600123456", "+34611222333", "+34622333444"


@pytest.fixture(autouse=True)
def _no_shared_layer(settings, monkeypatch, fake_twilio):
    settings.CHANNEL_LAYERS = {}
    monkeypatch.setattr("calls.services.waiting.RECHECK_SECONDS", 0.1)
    monkeypatch.setattr(call_lists, "HANGUP_GRACE_SECONDS", 0.3)


class Run:
    """The command in a thread; `code` is its exit status (0, or CommandError's returncode)."""

    def __init__(self, *args: str, results: Path) -> None:
        self.command, self.out, self.err, self.code = Command(), StringIO(), StringIO(), None
        self.args = [*args, "--results-dir", str(results)]
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            call_command(self.command, *self.args, stdout=self.out, stderr=self.err)
            self.code = 0
        except CommandError as exc:
            self.err.write(str(exc))
            self.code = exc.returncode

    def wait(self, timeout: float = 20) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), self.out.getvalue()
        return self.code

    @property
    def output(self) -> str:
        return self.out.getvalue() + self.err.getvalue()


def dialled(fake, count: int, timeout: float = 10) -> list:
    def placed() -> list | None:
        with fake.lock:
            calls = list(fake.calls.values())
        return calls if len(calls) >= count else None

    return wait_for(placed, timeout=timeout, interval=0.02, what=f"{count} call(s) to be placed")


def workbook(directory: Path) -> tuple[list[tuple], list[tuple]]:
    [path] = directory.glob("call_results_*.xlsx")
    book = openpyxl.load_workbook(path)
    return list(book["Results"].values), list(book["Skipped"].values)


def test_it_exits_1_when_twilio_refuses_the_numbers(tmp_path, fake_twilio):
    fake_twilio.unverified.update({ANA, LUIS})
    run = Run(ANA, LUIS, "--cps", "50", results=tmp_path)
    assert run.wait() == 1
    assert "Verify it in the Twilio console" in run.output and "2 of 2 call(s) failed" in run.output
    results, _ = workbook(tmp_path)
    assert [row[3] for row in results[1:]] == ["failed", "failed"]


def test_a_dry_run_calls_nobody_and_writes_nothing(tmp_path, fake_twilio):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("600123456, 611222333\nnope\n")
    run = Run("--file", str(numbers), "--dry-run", results=tmp_path / "out")
    assert run.wait() == 0
    assert fake_twilio.requests == [] and Call.objects.count() == Contact.objects.count() == 0
    assert not (tmp_path / "out").exists()
    assert ANA in run.output and LUIS in run.output and "Skipped row 3 'nope'" in run.output
    assert "Dry run: nobody was called" in run.output


def test_do_not_call_contacts_are_refused(tmp_path, fake_twilio):
    ContactFactory(phone_number=ANA, do_not_call=True)
    run = Run("600 123 456", results=tmp_path)
    assert run.wait() == 2
    assert f"Skipped argument 1 '{ANA}': on the do-not-call list" in run.output
    assert fake_twilio.requests == []


@pytest.mark.parametrize("content, message", [
    (None, "Cannot read"),
    (b"PK\x03\x04 not really a workbook", "could not be opened"),
])
def test_an_unreadable_file_exits_2(tmp_path, fake_twilio, content, message):
    path = tmp_path / "numbers.xlsx"
    if content is not None:
        path.write_bytes(content)
    run = Run("--file", str(path), results=tmp_path)
    assert run.wait() == 2 and message in run.output
    assert fake_twilio.requests == []


def test_cancel_hangs_up_live_calls_skips_pending_ones_and_still_writes_the_workbook(tmp_path, fake_twilio):
    run = Run(ANA, LUIS, EVA, "--cps", "50", results=tmp_path)
    [live] = dialled(fake_twilio, 1)
    run.command.campaign.cancel()
    assert run.wait() == 130
    assert fake_twilio.calls[live.sid].hung_up and len(fake_twilio.calls) == 1
    results, _ = workbook(tmp_path)
    # No final callback came: the command asked Twilio, which said completed.
    assert [row[3] for row in results[1:]] == ["completed", "not placed", "not placed"]
    assert results[1][6] == "staff_hangup" and "Cancelled by the operator" in results[1][7]
    assert results[2][7] == "Cancelled before dialling."


def test_a_call_that_outlives_the_timeout_is_hung_up_and_counts_as_failed(tmp_path, fake_twilio):
    run = Run(ANA, "--timeout", "0.5", results=tmp_path)
    [call] = dialled(fake_twilio, 1)
    assert run.wait() == 1
    assert fake_twilio.calls[call.sid].hung_up
    assert "No final status within 0.5 s; hung up." in run.output


# --- As an operator runs it: its own process, callbacks landing at a separate Daphne ---


@pytest.fixture(scope="module")
def twilio():
    with FakeTwilio(public_base_url="https://voicebot.example") as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(tmp_path_factory, twilio):
    stack = Stack(tmp_path_factory.mktemp("place-call-stack"), extra_env={
        **twilio.voicebot_env(), "DEBUG": "true", "AMD_MODE": "off",
    })
    try:
        stack.prepare()
        stack.base_url = f"http://127.0.0.1:{stack.start_daphne()}"
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop_all()


def start(stack: Stack, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "place_call", *args], cwd=ROOT, env=stack.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 30) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def end_at(stack: Stack, fake, sid: str, status: str, duration: int | None = None) -> None:
    for hook in fake.status_callbacks(sid, ["initiated", "ringing"]):
        assert hook.post_http(stack.base_url).status_code == 200
    assert fake.status_callback(sid, status, duration=duration).post_http(stack.base_url).status_code == 200


def created_at(stack: Stack, sid: str) -> datetime:
    # Twilio answers before place_call stores the SID, so the call may not be found under it for a moment.
    def found() -> requests.Response | None:
        response = requests.get(f"{stack.base_url}/api/calls/{sid}/", timeout=10,
                                headers={"Authorization": f"Token {stack.token}"})
        return response if response.status_code == 200 else None

    response = wait_for(found, timeout=5, interval=0.1, what=f"call {sid} in the API")
    return datetime.fromisoformat(response.json()["created_at"].replace("Z", "+00:00"))


@pytest.mark.slow
def test_it_calls_the_good_rows_of_a_file_and_reports_the_rest(tmp_path, stack, twilio):
    requests.post(f"{stack.base_url}/api/users", json={"phone_number": EVA, "do_not_call": True},
                  headers={"Authorization": f"Token {stack.token}"}, timeout=10).raise_for_status()
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("Phone,Name\n600 123 456,Ana\n12,Bad\n+34 600 123 456,Again\n622333444,Eva\n"
                       "611 22 23 33,=HYPERLINK(\"x\")\n")
    before = len(twilio.calls)
    process = start(stack, "--file", str(numbers), "--concurrency", "2", "--cps", "4", "--results-dir", str(tmp_path))
    first, second = sorted(dialled(twilio, before + 2, timeout=30)[before:], key=lambda call: call.to)
    assert (first.to, second.to) == (ANA, LUIS)  # both in flight at once
    gap = abs((created_at(stack, second.sid) - created_at(stack, first.sid)).total_seconds())
    assert gap >= 0.2  # 4 per second at most
    stack.manage("shell", "-c", "from calls.models import Call; Call.objects.filter(twilio_sid="
                 f"'{first.sid}').update(extracted_data={{'place': 'Madrid', 'budget': 900}})")
    end_at(stack, twilio, first.sid, "completed", duration=65)
    end_at(stack, twilio, second.sid, "busy")
    code, out = finish(process)
    assert code == 0, out
    assert len(twilio.calls) == before + 2  # not the bad row, the repeat or the do-not-call contact
    assert "The file's first row is a title" in out
    assert "Skipped row 3 '12': not a valid phone number" in out
    assert f"Skipped row 4 '+34 600 123 456': {ANA} is a repeat of row 2" in out
    assert f"Skipped row 5 '{EVA}': on the do-not-call list" in out
    assert f"Dialling row 2 {ANA} ({first.sid})" in out
    assert "[##############################] 2/2 done" in out
    table = next(line for line in out.splitlines() if line.startswith("row 2 "))
    assert ANA in table and "completed" in table and "1:05" in table and "place=Madrid" in table
    assert "All 2 call(s) ended." in out and f"Results: {tmp_path}" in out
    results, skipped = workbook(tmp_path)
    assert results[0] == ("Row", "Phone Number", "Name", "Status", "Duration", "Answered By", "End Reason", "Error",
                          "Call Sid", "Place", "Budget")
    assert results[1][:5] == ("row 2", escape_formula(ANA), "Ana", "completed", "1:05")
    assert results[1][8:] == (first.sid, "Madrid", 900)
    assert results[2][:4] == ("row 6", escape_formula(LUIS), "'=HYPERLINK(\"x\")", "busy")
    assert [row[:2] for row in skipped] == [("Row", "Input"), ("row 3", "12"), ("row 4", "'+34 600 123 456"),
                                            ("row 5", escape_formula(EVA))]


@pytest.mark.slow
def test_ctrl_c_hangs_up_the_live_call_places_no_more_and_writes_the_workbook(tmp_path, stack, twilio):
    before = len(twilio.calls)
    process = start(stack, "600000001", "600000002", "600000003", "--cps", "20", "--unanswered-is-failure",
                    "--results-dir", str(tmp_path))
    [first] = dialled(twilio, before + 1, timeout=30)[before:]
    time.sleep(1)
    assert len(twilio.calls) == before + 1  # one call at a time by default
    end_at(stack, twilio, first.sid, "completed", duration=30)
    second = dialled(twilio, before + 2)[-1]
    assert twilio.status_callback(second.sid, "in-progress").post_http(stack.base_url).status_code == 200
    process.send_signal(signal.SIGINT)
    code, out = finish(process)
    assert code == 130, out
    assert twilio.calls[second.sid].hung_up and len(twilio.calls) == before + 2
    assert "Cancelling: no new calls" in out
    results, _ = workbook(tmp_path)
    assert [row[3] for row in results[1:]] == ["completed", "completed", "not placed"]
    assert [row[6] for row in results[1:]] == [None, "staff_hangup", None]
