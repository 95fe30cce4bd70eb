"""Settling calls whose callbacks never came: calls.tasks.call_reconcile_stale and its schedule."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from calls import tasks
from calls.management.commands.setup_schedules import SCHEDULES
from calls.models import Call, CallStatus, EndReason
from calls.services import call_reconcile_stale, place_call
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db


def _age(call: Call, seconds: int) -> None:
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_it_settles_a_stale_call_from_twilios_records(settings, fake_twilio):
    settings.CALL_STALE_AFTER = 600
    call = place_call(contact=ContactFactory())
    _age(call, 3600)
    fake_twilio.set_state(call.twilio_sid, status="completed", duration=64)
    assert tasks.call_reconcile_stale() == 1
    call.refresh_from_db()
    assert (call.status, call.duration, call.end_reason) == (CallStatus.COMPLETED, 64.0, EndReason.STALE)
    assert fake_twilio.requests_to("GET", f"/Calls/{call.twilio_sid}.json")
    assert call.events.filter(kind="status", detail__source="fetch").exists()


def test_it_leaves_recent_and_final_calls_alone(settings, fake_twilio):
    settings.CALL_STALE_AFTER = 600
    recent = place_call(contact=ContactFactory())
    done = CallFactory(status=CallStatus.COMPLETED)
    _age(done, 3600)
    assert call_reconcile_stale() == 0
    assert fake_twilio.requests_to("GET") == []
    recent.refresh_from_db()
    assert recent.status == CallStatus.QUEUED


def test_a_call_still_live_at_twilio_stays_live(fake_twilio):
    call = place_call(contact=ContactFactory())
    _age(call, 3600)
    fake_twilio.set_state(call.twilio_sid, status="in-progress")
    assert call_reconcile_stale(older_than_seconds=60) == 0
    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS and call.answered_at is not None


def test_a_call_that_never_reached_twilio_fails(fake_twilio):
    call = CallFactory(twilio_sid=None)
    _age(call, 3600)
    assert call_reconcile_stale(older_than_seconds=60) == 1
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (CallStatus.FAILED, EndReason.STALE)


def test_a_call_twilio_does_not_know_fails(fake_twilio):
    call = CallFactory()
    _age(call, 3600)
    assert call_reconcile_stale(older_than_seconds=60) == 1
    call.refresh_from_db()
    assert call.status == CallStatus.FAILED and "no record" in call.error


def test_twilio_being_down_leaves_the_call_for_the_next_run(fake_twilio):
    call = place_call(contact=ContactFactory())
    _age(call, 3600)
    fake_twilio.fail_next = (503, 20500, "Service unavailable")
    assert call_reconcile_stale(older_than_seconds=60) == 0
    call.refresh_from_db()
    assert call.status == CallStatus.QUEUED


def test_setup_schedules_is_idempotent():
    call_command("setup_schedules")
    call_command("setup_schedules")
    schedule = Schedule.objects.get(name="calls-reconcile-stale")
    assert schedule.func == "calls.tasks.call_reconcile_stale" and schedule.schedule_type == Schedule.MINUTES
    assert Schedule.objects.count() == len(SCHEDULES)  # one row per job, however often it runs
