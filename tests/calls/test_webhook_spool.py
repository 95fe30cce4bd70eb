"""A Twilio callback is never lost to a database that refuses writes: retried in the request, else kept and applied
by the worker (calls.services.webhook_spool), in each call's SequenceNumber order.

The database refuses at its edge: a `connection.execute_wrapper` fails every write statement with SQLite's own
"database is locked" while the lock is held, as a second writer holding the lock past the busy timeout would.
Transactional tests: inside a test's transaction, a failed statement would poison the rest of the test.
"""
import json
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from calls import tasks
from calls.models import Call, CallStatus
from calls.services import place_call
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


class WriteLock:
    """Refuse writes while `held`, or for the first `times` writes, as a locked SQLite database does."""

    def __init__(self, *, times: int | None = None):
        self.held, self.times, self.refused = True, times, 0

    def __call__(self, execute, sql, params, many, context):
        if self.held and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self.refused += 1
            if self.times is not None and self.refused >= self.times:
                self.held = False
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)


@pytest.fixture
def placed(fake_twilio) -> Call:
    return place_call(contact=ContactFactory())


def _spool(settings) -> Path:
    return Path(settings.WEBHOOK_SPOOL_DIR)


def _spooled(settings) -> list[Path]:
    return sorted(_spool(settings).glob("*.json")) if _spool(settings).exists() else []


def _timeline(call: Call) -> list[str]:
    return list(call.events.filter(kind="status").order_by("id").values_list("detail__status", flat=True))


def test_a_briefly_locked_database_is_retried_within_the_request(client, fake_twilio, placed, settings):
    hook = fake_twilio.status_callback(placed.twilio_sid, "in-progress")
    lock = WriteLock(times=3)
    with connection.execute_wrapper(lock):
        response = hook.post(client)
    assert response.status_code == 200 and lock.refused == 3
    placed.refresh_from_db()
    assert placed.status == CallStatus.IN_PROGRESS and _timeline(placed) == ["in-progress"]
    assert _spooled(settings) == []


def test_a_lock_held_past_the_budget_keeps_callbacks_and_the_worker_applies_them_in_order(
    client, fake_twilio, placed, settings
):
    settings.WEBHOOK_DB_RETRY_SECONDS = 0.2
    ringing, in_progress, completed = fake_twilio.status_callbacks(
        placed.twilio_sid, ["ringing", "in-progress", "completed"], duration=42
    )
    with connection.execute_wrapper(WriteLock()):
        for hook in (completed, ringing, in_progress):  # Twilio's callbacks may arrive in any order
            assert hook.post(client).status_code == 200
    placed.refresh_from_db()
    assert placed.status == CallStatus.QUEUED and _timeline(placed) == []
    files = _spooled(settings)
    assert len(files) == 3
    kept = json.loads(files[0].read_text())
    assert dict(kept["params"]) == completed.params and kept["signature"] == completed.signature
    assert kept["path"] == completed.path and kept["kind"] == "status" and kept["received_at"]
    assert all(file.stat().st_mode & 0o777 == 0o600 for file in files)
    assert _spool(settings).stat().st_mode & 0o777 == 0o700

    assert tasks.twilio_callbacks_apply_spooled() == 3
    placed.refresh_from_db()
    assert (placed.status, placed.duration) == (CallStatus.COMPLETED, 42.0)
    assert placed.answered_at is not None and placed.ended_at is not None
    assert _timeline(placed) == ["ringing", "in-progress", "completed"]
    assert list(_spool(settings).iterdir()) == []

    assert tasks.twilio_callbacks_apply_spooled() == 0
    placed.refresh_from_db()
    assert placed.status == CallStatus.COMPLETED and _timeline(placed) == ["ringing", "in-progress", "completed"]


def test_a_spooled_callback_already_applied_is_dropped_without_a_second_event(client, fake_twilio, placed, settings):
    settings.WEBHOOK_DB_RETRY_SECONDS = 0.1
    hook = fake_twilio.status_callback(placed.twilio_sid, "ringing")
    with connection.execute_wrapper(WriteLock()):
        assert hook.post(client).status_code == 200
    (_spool(settings) / "copy.json").write_bytes(_spooled(settings)[0].read_bytes())  # the same one, kept twice
    assert tasks.twilio_callbacks_apply_spooled() == 1
    placed.refresh_from_db()
    assert _timeline(placed) == ["ringing"] and _spooled(settings) == []


def test_a_spooled_callback_that_cannot_be_applied_is_set_aside_not_retried(client, fake_twilio, placed, settings):
    settings.WEBHOOK_DB_RETRY_SECONDS = 0.1
    with connection.execute_wrapper(WriteLock()):
        assert fake_twilio.status_callback(placed.twilio_sid, "ringing").post(client).status_code == 200
    Call.objects.filter(pk=placed.pk).delete()  # its call is gone by the time the worker runs
    (_spool(settings) / "00-garbled.json").write_text("{not json")
    (_spool(settings) / "01-strange.json").write_text(json.dumps(
        {"kind": "dial", "params": [["CallSid", placed.twilio_sid]], "received_ns": 1, "code": None}
    ))
    assert tasks.twilio_callbacks_apply_spooled() == 0
    assert _spooled(settings) == []
    set_aside = sorted(path.name for path in (_spool(settings) / "failed").iterdir())
    assert len(set_aside) == 3 and set_aside[:2] == ["00-garbled.json", "01-strange.json"]
    assert tasks.twilio_callbacks_apply_spooled() == 0
    assert len(list((_spool(settings) / "failed").iterdir())) == 3


def test_the_worker_leaves_spooled_callbacks_in_place_while_the_database_still_refuses(
    client, fake_twilio, placed, settings
):
    settings.WEBHOOK_DB_RETRY_SECONDS = 0.1
    with connection.execute_wrapper(WriteLock()):
        assert fake_twilio.status_callback(placed.twilio_sid, "ringing").post(client).status_code == 200
        assert tasks.twilio_callbacks_apply_spooled() == 0
    assert len(_spooled(settings)) == 1 and not (_spool(settings) / "failed").exists()
    assert tasks.twilio_callbacks_apply_spooled() == 1
    placed.refresh_from_db()
    assert placed.status == CallStatus.RINGING and _spooled(settings) == []
