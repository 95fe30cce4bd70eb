"""Settling calls whose callbacks never came: calls.tasks.call_reconcile_stale and its schedule."""
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from calls import tasks
from calls.live.relay.recorder import wav_header
from calls.management.commands.setup_schedules import SCHEDULES
from calls.models import Call, CallEvent, CallStatus, EndReason
from calls.services import call_reconcile_stale, place_call
from calls.services.recordings import call_recording_recover, recording_name_for
from calls.services.streaming import call_stream_started
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


# ---- final calls whose stream's end was lost ---------------------------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("extraction.services.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """The scheduled task, with what it queues on commit actually sent."""
    def run() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.call_reconcile_stale()
    return run


def _streamed_call(*, ended_ago_s: int = 300, linked: bool = True, on_disk: bool = True, ended: bool = False,
                   **fields) -> Call:
    """A final call whose media stream started (as the consumer leaves it), its recording file on disk or not."""
    fields = {"stream_sid": "MZ" + "0" * 32, **fields}
    call = CallFactory(status=CallStatus.COMPLETED, ended_at=timezone.now() - timedelta(seconds=ended_ago_s), **fields)
    name = recording_name_for(call=call)
    if linked:
        Call.objects.filter(pk=call.pk).update(recording=name)
    if on_disk:
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav_header(0))
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_STARTED, detail={"stream_sid": call.stream_sid})
    if ended:
        CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_ENDED, detail={"end_reason": "callee_hangup"})
    call.refresh_from_db()
    return call


def test_call_recording_recover_links_the_file_a_killed_process_left(fake_twilio):
    call = _streamed_call(linked=False)
    assert call_recording_recover(call=call)
    call.refresh_from_db()
    assert call.recording.name == recording_name_for(call=call)
    assert call.events.filter(kind="recording_recovered", detail__recording=call.recording.name).exists()
    assert not call_recording_recover(call=call)  # linked already: nothing more to do


@pytest.mark.parametrize("fields", [{"on_disk": False}, {"stream_sid": ""}])
def test_call_recording_recover_links_nothing_without_a_stream_or_a_file(fake_twilio, fields):
    call = _streamed_call(linked=False, **fields)
    assert not call_recording_recover(call=call)
    call.refresh_from_db()
    assert not call.recording and not call.events.filter(kind="recording_recovered").exists()


def test_the_sweep_processes_a_final_call_whose_stream_never_reported_its_end(fake_twilio, enqueued, sweep):
    call = _streamed_call()  # the web process died mid-call: the recording is linked, the stream never ended
    sweep()
    call.refresh_from_db()
    assert enqueued == [("extraction.tasks.process_call", call.pk)]
    assert call.processing["status"] == "queued"
    assert call.end_reason == EndReason.STREAM_LOST
    assert call.events.filter(kind="stream_ended", detail__recovered=True).count() == 1
    sweep()
    assert len(enqueued) == 1  # once


def test_the_sweep_links_and_processes_a_recording_left_unlinked(fake_twilio, enqueued, sweep):
    call = _streamed_call(linked=False, ended=True)  # the stream ended, but its recording never reached the call
    sweep()
    call.refresh_from_db()
    assert call.recording.name == recording_name_for(call=call)
    assert call.events.filter(kind="recording_recovered").exists()
    assert enqueued == [("extraction.tasks.process_call", call.pk)]
    assert call.events.filter(kind="stream_ended").count() == 1  # its own end, not a second one


@pytest.mark.parametrize("case", [
    {"ended_ago_s": 5},  # just ended: the stream's own end may still be on its way
    {"ended": True, "processing": {"status": "done"}},  # processed already
    {"processing": {"status": "queued"}},  # queued already
    {"stream_sid": ""},  # never streamed
    {"linked": False, "recording_deleted_at": timezone.now()},  # purged under the retention rules
])
def test_the_sweep_leaves_alone_what_is_not_a_lost_stream_end(fake_twilio, enqueued, sweep, case):
    call = _streamed_call(**case)
    sweep()
    assert enqueued == []
    assert not call.events.filter(kind__in=["recording_recovered"]).exists()
    assert call.events.filter(kind="stream_ended").count() == (1 if case.get("ended") else 0)


def test_the_sweep_finishes_a_lost_stream_without_a_file_but_processes_nothing(fake_twilio, enqueued, sweep):
    call = _streamed_call(on_disk=False)
    sweep()
    call.refresh_from_db()
    assert enqueued == [] and call.processing == {}
    assert call.events.filter(kind="stream_ended", detail__recovered=True).count() == 1


def test_a_stale_call_whose_stream_died_is_processed_as_soon_as_twilio_says_it_ended(fake_twilio, enqueued, sweep):
    call = place_call(contact=ContactFactory())
    name = call_stream_started(call=call, stream_sid="MZ" + "1" * 32)  # as the consumer writes it, then dies
    (Path(settings.MEDIA_ROOT) / name).parent.mkdir(parents=True, exist_ok=True)
    (Path(settings.MEDIA_ROOT) / name).write_bytes(wav_header(0))
    _age(call, 3600)
    fake_twilio.set_state(call.twilio_sid, status="completed", duration=30)
    sweep()
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.recording.name) == (CallStatus.COMPLETED, EndReason.STALE, name)
    assert enqueued == [("extraction.tasks.process_call", call.pk)]
    assert call.events.filter(kind="stream_ended", detail__recovered=True).count() == 1
