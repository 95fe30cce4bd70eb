"""Where a live call's recording is written (private to the service's user: voicebot_site.private_files), and how a
recording orphaned by a crash is found again."""
import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from calls.models import FINAL_STATUSES, Call, CallEvent, EndReason
from extraction.services import process_call_after_call

logger = logging.getLogger(__name__)

# How long after its final status a call's stream may still be finishing: Twilio closes the socket as the call ends
# and Daphne cancels a consumer 10 s after that, so past this the stream's own end will not come.
STREAM_FINISH_GRACE = timedelta(seconds=60)
# How far back the sweep looks for final calls left unprocessed (it runs every few minutes; older ones are history).
RECOVERY_WINDOW = timedelta(days=7)


def recording_name_for(*, call: Call) -> str:
    """The recording's name relative to MEDIA_ROOT, derived from the call alone (so it can be found again)."""
    return f"recordings/{call.created_at:%Y/%m}/{call.twilio_sid or call.code}.wav"


def call_stream_running(*, call: Call) -> bool:
    """Whether the call's media stream started and was not finished yet (its recording may still be growing)."""
    return bool(call.stream_sid) and not CallEvent.objects.filter(
        call_id=call.pk, kind=CallEvent.Kind.STREAM_ENDED).exists()


def call_recording_recover(*, call: Call) -> bool:
    """Link the recording a crashed web process left on disk (written as the call went) to its call.

    Writes call.recording and a `recording_recovered` CallEvent when the call streamed audio, has no recording
    linked and the file exists. Returns whether it linked one. Enqueues nothing.
    """
    if call.recording or not call.stream_sid:
        return False
    name = recording_name_for(call=call)
    if not (Path(settings.MEDIA_ROOT) / name).is_file():
        return False
    Call.objects.filter(pk=call.pk, recording="").update(recording=name)
    call.recording.name = name
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.RECORDING_RECOVERED, detail={"recording": name})
    logger.info("Recovered the recording of sid=%s after its stream was cut off", call.twilio_sid)
    return True


def call_recordings_recover_final() -> int:
    """Finish what a lost stream end left undone on final calls, and queue their post-call processing.

    Looks at calls final for more than STREAM_FINISH_GRACE (within RECOVERY_WINDOW) whose stream started and whose
    processing never ran, and whose stream never finished (a killed web process, a consumer cancelled before its
    disconnect ended) or whose recording is not linked. For each: links the recording if its file exists
    (`call_recording_recover`), writes end_reason=stream_lost (unless one is set) and a `stream_ended` CallEvent if
    the stream never finished, and enqueues processing (`process_call_after_call`) when the recording is on disk.
    Returns how many calls were enqueued.
    """
    now = timezone.now()
    finished = CallEvent.objects.filter(call=OuterRef("pk"), kind=CallEvent.Kind.STREAM_ENDED)
    candidates = (
        Call.objects.filter(status__in=FINAL_STATUSES, ended_at__lt=now - STREAM_FINISH_GRACE,
                            ended_at__gte=now - RECOVERY_WINDOW, processing={}, recording_deleted_at__isnull=True)
        .exclude(stream_sid="")
        .filter(Q(~Exists(finished)) | Q(recording=""))
    )
    return sum(call_stream_recover(call=call) for call in candidates)


@transaction.atomic
def call_stream_recover(*, call: Call) -> bool:
    """Finish the stream of a final call whose own end will not come, and queue its processing.

    Links the recording if its file exists and it is not linked (`call_recording_recover`); if the stream never
    finished, writes end_reason=stream_lost (unless one is set) and a `stream_ended` CallEvent; enqueues processing
    (`process_call_after_call`) when the recording is on disk. Returns whether it enqueued.
    """
    call_recording_recover(call=call)
    if call_stream_running(call=call):
        Call.objects.filter(pk=call.pk, end_reason="").update(end_reason=EndReason.STREAM_LOST)
        CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_ENDED,
                                 detail={"end_reason": EndReason.STREAM_LOST, "recovered": True})
        logger.warning("Finished the stream of sid=%s, which never reported its end", call.twilio_sid)
    if not (call.recording and (Path(settings.MEDIA_ROOT) / call.recording.name).is_file()):
        return False
    process_call_after_call(call=call)
    logger.info("Queued processing of sid=%s, left undone when its stream was cut off", call.twilio_sid)
    return True
