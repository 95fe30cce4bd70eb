"""Real Daphne on a SQLite file named by DATABASE_URL, with another writer holding SQLite's write lock (BEGIN
IMMEDIATE on a second connection), as the worker or an admin action does: Twilio's callbacks are answered 200 and
nothing they said is lost, whether the lock goes within the request's patience or long after.

`?timeout=1` shortens SQLite's busy wait (20 s by default) so that the test need not hold the lock for long.
"""
import json
import sqlite3
import threading
import time

import pytest
import requests

from simulator.twilio import FakeTwilio
from tests.processes import Stack

PUBLIC_BASE_URL = "https://voicebot.example"
SID = "CA" + "5e" * 16
MAKE_CALL = """
from calls.models import Call
from contacts.models import Contact
contact = Contact.objects.create(phone_number="+34600123456", name="Ana")
Call.objects.create(contact=contact, phone_number=contact.phone_number, twilio_sid={sid!r})
"""
APPLY_SPOOLED = "from calls.tasks import twilio_callbacks_apply_spooled; print(twilio_callbacks_apply_spooled())"


@pytest.fixture
def world(tmp_path):
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
        stack = Stack(tmp_path, extra_env={
            **twilio.voicebot_env(),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}?timeout=1",
            "WEBHOOK_DB_RETRY_SECONDS": "2.5",
            "WEBHOOK_SPOOL_DIR": str(tmp_path / "spool"),
        })
        try:
            stack.prepare()
            stack.manage("shell", "-c", MAKE_CALL.format(sid=SID))
            yield stack, twilio, stack.start_daphne()
        finally:
            stack.stop_all()


def _callback(twilio: FakeTwilio, port: int, status: str, sequence: int, **extra: str) -> requests.Response:
    params = {"CallSid": SID, "AccountSid": twilio.account_sid, "CallStatus": status,
              "SequenceNumber": str(sequence), **extra}
    return twilio.sign(f"{PUBLIC_BASE_URL}/twilio/status", params).post_http(f"http://127.0.0.1:{port}")


def _locked_for(stack: Stack, seconds: float) -> threading.Thread:
    """Hold SQLite's write lock from another connection for `seconds`, from now; the thread ends when it is gone."""
    held = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(stack.env["SQLITE_PATH"], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(5)
    return thread


def _call(stack: Stack) -> tuple[str, list[str]]:
    with stack.connect() as conn:
        status = conn.execute("SELECT status FROM calls_call WHERE twilio_sid = ?", (SID,)).fetchone()[0]
        events = conn.execute("SELECT detail FROM calls_callevent WHERE kind = 'status' ORDER BY id").fetchall()
    return status, [json.loads(detail)["status"] for (detail,) in events]


@pytest.mark.slow
def test_callbacks_under_another_writers_lock_are_answered_200_and_all_land(world, tmp_path):
    stack, twilio, port = world
    journal = stack.connect().execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal", "DATABASE_URL=sqlite:// keeps WAL mode"

    # Held past SQLite's busy wait (1 s), gone within the request's retries (2.5 s).
    _locked_for(stack, 1.5)
    assert _callback(twilio, port, "ringing", 1).status_code == 200
    assert _call(stack) == ("ringing", ["ringing"])
    assert not (tmp_path / "spool").exists()

    # Held past every retry (about 3.3 s): both callbacks, sent out of order at once, are kept for the worker.
    lock = _locked_for(stack, 6)
    answers: list[int] = []

    def send(status: str, sequence: int, **extra: str) -> None:
        answers.append(_callback(twilio, port, status, sequence, **extra).status_code)

    senders = [threading.Thread(target=send, args=("completed", 3), kwargs={"CallDuration": "42"}),
               threading.Thread(target=send, args=("in-progress", 2))]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    assert answers == [200, 200]
    assert len(list((tmp_path / "spool").glob("*.json"))) == 2
    lock.join(10)
    assert stack.manage("shell", "-c", APPLY_SPOOLED).stdout.split()[-1] == "2"
    assert _call(stack) == ("completed", ["ringing", "in-progress", "completed"])
    assert list((tmp_path / "spool").glob("*.json")) == []
