"""What post-call processing does: queue it, run it and store the outcome, take an uploaded recording, purge
old recordings. The admin, the call-finish service and the tasks all come through here."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from calls.models import Call, CallEvent
from extraction.audio import RecordingError, recording_read
from extraction.exceptions import RecordingRejected
from extraction.pipeline import Outcome, pipeline_run
from extraction.turns import conversation_text

log = logging.getLogger(__name__)

# Below Q_CLUSTER["retry"], so that django-q2 never hands a still-running call to a second worker.
PROCESS_CALL_TIMEOUT = 1500
PENDING_STATUSES = {"queued", "running"}


def process_call_enqueue(*, call: Call) -> None:
    """Queue `extraction.tasks.process_call` for the call once the current transaction commits.

    Writes Call.processing = {"status": "queued", ...} so the admin shows it is pending. Safe to call again on a
    processed call: the task redoes every step and replaces the results.
    """
    queued = {"status": "queued", "queued_at": timezone.now().isoformat()}
    Call.objects.filter(pk=call.pk).update(processing=queued)
    call.processing = queued
    timeout = min(PROCESS_CALL_TIMEOUT, settings.Q_CLUSTER["retry"] - 60)
    transaction.on_commit(
        lambda: async_task(
            "extraction.tasks.process_call", call.pk, task_name=f"process-call-{call.pk}", timeout=timeout
        )
    )


def process_call_run(*, call: Call) -> Outcome:
    """Run every post-call step for the call and store the outcome.

    Writes Call.processing (status, timings, per-step {status, seconds, error, attempts}), Call.transcript and
    Call.conversation (when the merge succeeded), Call.extracted_data (when extraction succeeded; emptied when a
    new transcript could not be extracted) and Call.extraction_error (readable reason, or empty). Never touches
    the recording or the live transcript. Enqueues nothing.
    """
    started = timezone.now()
    running = {"status": "running", "started_at": started.isoformat()}
    Call.objects.filter(pk=call.pk).update(processing=running)
    outcome = pipeline_run(call=call)
    fields = _outcome_fields(outcome, started)
    Call.objects.filter(pk=call.pk).update(**fields)
    for name, value in fields.items():
        setattr(call, name, value)
    log.info("call %s processed: %s", call.twilio_sid or f"#{call.pk}", fields["processing"]["status"])
    return outcome


def _outcome_fields(outcome: Outcome, started: datetime) -> dict[str, Any]:
    finished = timezone.now()
    processing = {
        "status": "done" if outcome.ok else "failed",
        "source": outcome.source,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "seconds": round((finished - started).total_seconds(), 3),
        "error": outcome.error,
        "steps": outcome.steps,
    }
    fields: dict[str, Any] = {"processing": processing, "extraction_error": outcome.error or outcome.skipped}
    if outcome.turns is not None:
        fields.update(transcript=outcome.turns, conversation=conversation_text(outcome.turns))
    if outcome.data is not None:
        fields["extracted_data"] = outcome.data
    elif outcome.turns is not None:
        fields["extracted_data"] = {}  # data from an older transcript would no longer match this one
    return fields


def recording_upload(*, call: Call, file: IO[bytes], process: bool = True) -> Call:
    """Store an uploaded recording (16-bit PCM WAV, mono or stereo) as the call's recording.

    Writes Call.recording (the previous file is deleted) and clears Call.recording_deleted_at. A stereo file must
    follow our layout (left = callee, right = bot); a mono one is diarized when processed. When `process` is
    true, enqueues `extraction.tasks.process_call` after commit. Raises RecordingRejected for anything else.
    """
    data = file.read()
    try:
        recording = recording_read(data)
    except RecordingError as exc:
        raise RecordingRejected(f"Upload a 16-bit PCM WAV file: {exc}.") from exc
    if len(recording.channels) not in (1, 2) or not recording.seconds:
        raise RecordingRejected("Upload a mono or stereo WAV file that contains audio.")
    with transaction.atomic():
        if call.recording:
            call.recording.delete(save=False)
        call.recording.save(_upload_name(call), ContentFile(data), save=False)
        call.recording_deleted_at = None
        call.save(update_fields=["recording", "recording_deleted_at"])
        detail = {"channels": len(recording.channels), "seconds": round(recording.seconds, 1)}
        CallEvent.objects.create(call=call, kind="recording_uploaded", detail=detail)
        if process:
            process_call_enqueue(call=call)
    return call


def _upload_name(call: Call) -> str:
    stem = (call.twilio_sid or f"call-{call.pk}").replace("/", "_")
    return f"{stem}-uploaded.wav"


def recordings_purge(*, now: datetime | None = None) -> int:
    """Delete recording files older than RECORDING_RETENTION_DAYS (0 keeps them forever); returns how many.

    For each call: deletes the file, empties Call.recording, sets Call.recording_deleted_at and writes a
    CallEvent(kind="recording_deleted"). The transcripts and extracted data stay. Calls still queued or being
    processed are left for the next run, so their processing still has its audio. Enqueues nothing.
    """
    days = settings.RECORDING_RETENTION_DAYS
    if days <= 0:
        return 0
    now = now or timezone.now()
    due = (
        Call.objects.exclude(recording="")
        .filter(recording_deleted_at__isnull=True)
        .annotate(recorded_at=Coalesce("ended_at", "created_at"))
        .filter(recorded_at__lt=now - timedelta(days=days))
    )
    purged = 0
    for call in due.iterator():
        # Checked here, not in SQL: a JSON key lookup is NULL for calls never processed, and NOT(NULL) drops them.
        if (call.processing or {}).get("status") in PENDING_STATUSES:
            continue
        _recording_delete(call, now=now, days=days)
        purged += 1
    log.info("recordings purge: %d deleted (retention %d days)", purged, days)
    return purged


def _recording_delete(call: Call, *, now: datetime, days: int) -> None:
    name = call.recording.name
    with transaction.atomic():
        call.recording.delete(save=False)  # a file already gone is fine: storage.delete ignores it
        call.recording_deleted_at = now
        call.save(update_fields=["recording", "recording_deleted_at"])
        CallEvent.objects.create(
            call=call, kind="recording_deleted", detail={"file": name, "retention_days": days}
        )
    log.info("call %s: recording deleted after %d days", call.twilio_sid or f"#{call.pk}", days)
