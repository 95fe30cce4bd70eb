"""Old recordings are deleted on schedule; the transcript and the data stay, and the call says so."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from calls.models import CallEvent

pytestmark = pytest.mark.django_db


def aged(make_call, days: int, **fields):
    return make_call(ended_at=timezone.now() - timedelta(days=days), **fields)


def test_it_deletes_recordings_older_than_the_retention_and_keeps_the_rest(make_call, settings, q_sync):
    settings.RECORDING_RETENTION_DAYS = 30
    old = aged(make_call, 40, transcript=[{"speaker": "Bot", "text": "Hola", "start_ms": 0, "end_ms": 500}],
               extracted_data={"place": "Madrid"})
    recent = aged(make_call, 5)
    old_file = old.recording.name

    async_task("extraction.tasks.recordings_purge")  # through django-q2, as the schedule runs it

    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.recording and old.recording_deleted_at is not None
    assert not recent.recording.storage.exists(old_file)
    assert old.transcript[0]["text"] == "Hola" and old.extracted_data == {"place": "Madrid"}
    event = CallEvent.objects.get(call=old, kind="recording_deleted")
    assert event.detail == {"file": old_file, "retention_days": 30}
    assert recent.recording and recent.recording.storage.exists(recent.recording.name)
    assert not CallEvent.objects.filter(call=recent).exists()


def test_it_keeps_everything_when_retention_is_zero(make_call, settings):
    from extraction.tasks import recordings_purge

    settings.RECORDING_RETENTION_DAYS = 0
    call = aged(make_call, 4000)

    assert recordings_purge() == 0
    call.refresh_from_db()
    assert call.recording and call.recording_deleted_at is None


def test_it_runs_idempotently(make_call, settings):
    from extraction.tasks import recordings_purge

    settings.RECORDING_RETENTION_DAYS = 1
    call = aged(make_call, 3)

    assert recordings_purge() == 1
    assert recordings_purge() == 0
    assert CallEvent.objects.filter(call=call, kind="recording_deleted").count() == 1


def test_it_leaves_a_call_whose_processing_is_pending(make_call, settings):
    from extraction.tasks import recordings_purge

    settings.RECORDING_RETENTION_DAYS = 1
    aged(make_call, 3, processing={"status": "queued"})

    assert recordings_purge() == 0


def test_processing_after_the_purge_explains_the_missing_recording(make_call, settings, openai_fake):
    from extraction.tasks import process_call, recordings_purge

    settings.RECORDING_RETENTION_DAYS = 1
    call = aged(make_call, 3)
    recordings_purge()

    process_call(call.pk)

    call.refresh_from_db()
    assert "the call has no recording (deleted " in call.extraction_error


def test_the_schedule_command_creates_one_daily_schedule_however_often_it_runs():
    call_command("setup_extraction_schedules")
    call_command("setup_extraction_schedules")

    schedule = Schedule.objects.get(func="extraction.tasks.recordings_purge")
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
    assert Schedule.objects.filter(func="extraction.tasks.recordings_purge").count() == 1
