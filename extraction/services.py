"""What post-call processing does: queue it (again), run it and store the outcome, take an uploaded recording or
a whole call recorded elsewhere, purge old recordings. The admin, the call-finish service and the tasks all come
through here."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from calls.models import Call, CallEvent, CallStatus, EndReason
from calls.pricing import call_cost_update
from calls.signals import call_processed
from contacts.models import Contact
from contacts.services import ContactAlreadyExists, contact_create, contact_phone
from extraction.audio import Recording, RecordingError, recording_read
from extraction.exceptions import RecordingRejected
from extraction.pipeline import Outcome, pipeline_run
from extraction.steps import StepRecord
from extraction.transcoding import recording_to_wav
from extraction.turns import conversation_text

log = logging.getLogger(__name__)

# Existing schedules and queued tasks name it: keep the dotted path.
PROCESS_CALL_TASK = "extraction.tasks.process_call"
# Below Q_CLUSTER["retry"], so that django-q2 never hands a still-running call to a second worker.
PROCESS_CALL_TIMEOUT = 1500
PENDING_STATUSES = {"queued", "running"}


@dataclass(frozen=True)
class ProcessingRecord:
    """Call.processing read back: the state of post-call processing, when it moved and each step's report.

    Written by process_call_enqueue (queued) and process_call_run (running, then done or failed). A value of
    another shape (written by hand or by an older version) reads as never processed instead of failing a page.
    """

    status: str = ""  # "", queued, running, done or failed
    source: str = ""  # what was transcribed: "openai" (the recording) or "live"
    queued_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    seconds: float | None = None
    error: str = ""
    steps: dict[str, StepRecord | None] = field(default_factory=dict)  # None: the step left no report

    @classmethod
    def from_stored(cls, value: object) -> ProcessingRecord:
        if not isinstance(value, dict):
            return cls()
        steps, seconds = value.get("steps"), value.get("seconds")
        return cls(
            status=_text(value.get("status")), source=_text(value.get("source")),
            queued_at=_text(value.get("queued_at")), started_at=_text(value.get("started_at")),
            finished_at=_text(value.get("finished_at")), error=_text(value.get("error")),
            seconds=seconds if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None,
            steps={str(name): StepRecord.from_stored(step) for name, step in steps.items()}
            if isinstance(steps, dict) else {},
        )

    @property
    def is_pending(self) -> bool:
        """Waiting for a worker or running."""
        return self.status in PENDING_STATUSES

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"

    @property
    def pending_since(self) -> datetime | None:
        """When the pending state began (started, else queued); None when unknown."""
        try:
            return datetime.fromisoformat(self.started_at or self.queued_at)
        except ValueError:
            return None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def process_call_enqueue(*, call: Call) -> None:
    """Queue `extraction.tasks.process_call` for the call once the current transaction commits.

    The one way post-call processing is queued: the final status callback, the end of the media stream, uploads
    and the admin's re-run all come here. Writes Call.processing = {"status": "queued", ...} so the admin shows it
    is pending. Safe to call again on a processed call: the task redoes every step and replaces the results.
    """
    queued = {"status": "queued", "queued_at": timezone.now().isoformat()}
    Call.objects.filter(pk=call.pk).update(processing=queued)
    call.processing = queued
    timeout = process_call_timeout()
    transaction.on_commit(
        lambda: async_task(
            PROCESS_CALL_TASK, call.pk, task_name=f"process-call-{call.pk}", timeout=timeout
        )
    )


def process_call_after_call(*, call: Call) -> None:
    """The call is over and its recording is in: queue its processing (`process_call_enqueue`), unless it ended on
    an answering machine and VOICEMAIL_PROCESSING is `skip`: then Call.processing = {"status": "skipped"} (a
    re-run from the admin still processes it)."""
    if call.end_reason == EndReason.VOICEMAIL and settings.VOICEMAIL_PROCESSING == "skip":
        skipped = {"status": "skipped",
                   "error": _("Answering machine: not transcribed nor extracted (VOICEMAIL_PROCESSING=skip).")}
        Call.objects.filter(pk=call.pk).update(processing=skipped)
        call.processing = skipped
        log.info("Processing skipped for voicemail sid=%s", call.twilio_sid)
        return
    process_call_enqueue(call=call)


def process_call_timeout() -> int:
    """The post-call task's timeout: never above Q_TIMEOUT, which calls.checks keeps under Q_RETRY, so the broker
    never hands the task to a second worker while the first still runs it."""
    return min(PROCESS_CALL_TIMEOUT, settings.Q_CLUSTER["timeout"])


def process_call_run(*, call: Call) -> Outcome:
    """Run every post-call step for the call and store the outcome.

    Writes Call.processing (status, timings, per-step {status, seconds, error, attempts}), Call.transcript and
    Call.conversation (when the merge succeeded), Call.cost (with the steps' OpenAI usage), Call.extracted_data (when extraction succeeded; emptied when a
    new transcript could not be extracted) and Call.extraction_error (readable reason, or empty). Never touches
    the recording or the live transcript. Sends calls.signals.call_processed in the transaction that stores the
    outcome (webhooks out listen).
    """
    started = timezone.now()
    running = {"status": "running", "started_at": started.isoformat()}
    Call.objects.filter(pk=call.pk).update(processing=running)
    outcome = pipeline_run(call=call)
    fields = _outcome_fields(outcome, started)
    with transaction.atomic():
        Call.objects.filter(pk=call.pk).update(**fields)
        call_cost_update(call_id=call.pk)
        for name, value in fields.items():
            setattr(call, name, value)
        call.refresh_from_db(fields=["cost", "cost_total"])  # what call_processed's listeners (webhooks) send
        call_processed.send(sender=Call, call=call)
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


def process_call_missing_input(*, call: Call) -> str:
    """Why the call cannot be processed (no recording, no live transcript), in the active language, or "" when it
    can. Reads only."""
    if settings.TRANSCRIPT_SOURCE == "live":
        return "" if call.live_transcript else _("no live transcript (TRANSCRIPT_SOURCE=live)")
    if call.recording:
        return ""
    if call.recording_deleted_at:
        return _("its recording was deleted on %(date)s") % {
            "date": f"{timezone.localdate(call.recording_deleted_at):%Y-%m-%d}"}
    return _("no recording")


@dataclass
class ReprocessReport:
    queued: list[Call] = field(default_factory=list)
    skipped: dict[str, list[Call]] = field(default_factory=dict)  # reason -> calls


def process_calls_enqueue(*, calls: Iterable[Call]) -> ReprocessReport:
    """Queue processing again for each call that has something to process (see process_call_enqueue).

    Writes Call.processing = queued and enqueues `extraction.tasks.process_call` after commit for each of them;
    the others are reported with the reason, as are calls already waiting for or in processing (a second run
    would only pay OpenAI twice), unless that state is older than Q_CLUSTER["retry"] (its worker is gone).
    """
    report = ReprocessReport()
    for call in calls:
        reason = process_call_missing_input(call=call) or _pending_reason(call)
        if reason:
            report.skipped.setdefault(reason, []).append(call)
        else:
            process_call_enqueue(call=call)
            report.queued.append(call)
    return report


def _pending_reason(call: Call) -> str:
    processing = ProcessingRecord.from_stored(call.processing)
    since = processing.pending_since
    if not processing.is_pending or since is None:
        return ""
    if timezone.now() - since > timedelta(seconds=settings.Q_CLUSTER["retry"]):
        return ""
    return _("already waiting for or in processing")


def recording_upload(*, call: Call, file: IO[bytes], process: bool = True) -> Call:
    """Store an uploaded recording (mp3, m4a, ogg, webm or any WAV, mono or stereo) as the call's recording.

    The file is converted to our WAV layout first (extraction.transcoding; a WAV already in it is kept as is).
    Writes Call.recording (the previous file is deleted), clears Call.recording_deleted_at and adds a
    CallEvent(kind="recording_uploaded"). A stereo file must follow our layout (left = callee, right = bot); a
    mono one is diarized when processed. When `process` is true, enqueues `extraction.tasks.process_call` after
    commit. Raises RecordingRejected for anything else (unreadable, too big, too long), having written nothing.
    """
    data, recording = _recording_converted(file)
    _recording_store(call, data, recording, process=process)
    log.info("call %s: recording uploaded (%d channel(s), %.1f s)", call.twilio_sid or f"#{call.pk}",
             len(recording.channels), recording.seconds)
    return call


def recorded_call_import(*, phone_number: object, file: IO[bytes], called_at: datetime | None = None) -> Call:
    """Make a Call out of a recording made elsewhere (as recording_upload takes it) and queue its processing.

    Writes a Contact for the number if it is new (through contacts.services.contact_create), a completed Call
    (created/answered at `called_at`, default now; ended when the recording ends; no end reason: none of ours
    fits, the timeline's "Recording uploaded" event says where it came from), its recording and that event.
    Enqueues `extraction.tasks.process_call` after commit. Raises ContactNumberInvalid or RecordingRejected
    having written nothing: the file is converted and checked before any row is created.
    """
    phone = contact_phone(value=phone_number)
    data, recording = _recording_converted(file)
    called_at = called_at or timezone.now()
    with transaction.atomic():
        contact = _contact_for(phone)
        call = Call.objects.create(
            contact=contact, phone_number=phone, status=CallStatus.COMPLETED, end_reason="",
            duration=round(recording.seconds, 1),
        )
        # created_at is auto_now_add: set the real date of the call afterwards.
        times = {"created_at": called_at, "answered_at": called_at,
                 "ended_at": called_at + timedelta(seconds=recording.seconds)}
        Call.objects.filter(pk=call.pk).update(**times)
        for name, value in times.items():
            setattr(call, name, value)
        _recording_store(call, data, recording, process=True)
    log.info("call #%s imported from an uploaded recording for %s", call.pk, phone)
    return call


def _contact_for(phone: str) -> Contact:
    contact = Contact.objects.filter(phone_number=phone).first()
    if contact is not None:
        return contact
    try:
        return contact_create(phone_number=phone)
    except ContactAlreadyExists:  # created by someone else meanwhile
        return Contact.objects.get(phone_number=phone)


def _recording_converted(file: IO[bytes]) -> tuple[bytes, Recording]:
    """The upload as a WAV in our layout and that WAV decoded; bounded by the RECORDING_UPLOAD_* settings."""
    limit = settings.RECORDING_UPLOAD_MAX_BYTES
    data = file.read(limit + 1)  # never more than the limit in memory, however big the upload
    if len(data) > limit:
        raise RecordingRejected(
            f"The file is bigger than the limit of {limit / 1_048_576:.3g} MB. Upload a shorter recording, or "
            "the same one as mp3 or m4a."
        )
    wav = recording_to_wav(data, max_seconds=settings.RECORDING_UPLOAD_MAX_SECONDS,
                           timeout=settings.RECORDING_CONVERT_TIMEOUT)
    try:
        return wav, recording_read(wav)
    except RecordingError as exc:  # not expected of our own layout; a refusal all the same, never a 500
        raise RecordingRejected(f"The converted recording could not be read back ({exc}).") from exc


def _recording_store(call: Call, data: bytes, recording: Recording, *, process: bool) -> None:
    # The new file first, the old one only once the row points at the new one for good: a failure in between
    # leaves the call with its old recording, never with a name whose file is gone.
    old, storage = call.recording.name, call.recording.storage
    call.recording.save(_upload_name(call), ContentFile(data), save=False)
    new = call.recording.name
    try:
        with transaction.atomic():
            call.recording_deleted_at = None
            call.save(update_fields=["recording", "recording_deleted_at"])
            detail = {"channels": len(recording.channels), "seconds": round(recording.seconds, 1)}
            CallEvent.objects.create(call=call, kind=CallEvent.Kind.RECORDING_UPLOADED, detail=detail)
            if process:
                process_call_enqueue(call=call)
            if old and old != new:
                transaction.on_commit(lambda: storage.delete(old))
    except BaseException:
        storage.delete(new)
        call.recording.name = old
        raise


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
        if ProcessingRecord.from_stored(call.processing).is_pending:
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
            call=call, kind=CallEvent.Kind.RECORDING_DELETED, detail={"file": name, "retention_days": days}
        )
    log.info("call %s: recording deleted after %d days", call.twilio_sid or f"#{call.pk}", days)
