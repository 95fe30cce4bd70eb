"""What the media stream writes: the stream's start, the relay's events, and the finished recording.

Called by `calls.live.consumer.MediaStreamConsumer` through `database_sync_to_async`, never on the audio path:
a write at the start, one per transcript turn or timeline event, and one at the end.
"""
import logging

from django.db import transaction

from calls.models import Call, CallEvent
from calls.services.waiting import call_notify_final
from extraction.services import process_call_enqueue

logger = logging.getLogger(__name__)

TIMELINE_EVENTS = frozenset({
    CallEvent.Kind.DTMF, CallEvent.Kind.BARGE_IN, CallEvent.Kind.AI_ERROR, CallEvent.Kind.AI_UNAVAILABLE,
    CallEvent.Kind.HANG_UP,
})


def call_stream_started(*, call: Call, stream_sid: str) -> None:
    """Record the Twilio stream SID. Writes call.stream_sid and a `stream_started` CallEvent."""
    Call.objects.filter(pk=call.pk).update(stream_sid=stream_sid)
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_STARTED, detail={"stream_sid": stream_sid})
    logger.info("Media stream started sid=%s stream=%s", call.twilio_sid, stream_sid)


@transaction.atomic
def call_relay_event_record(*, call_id: int, event: dict) -> None:
    """Persist one relay event as it happens, so a crash keeps what was said.

    Transcript turns are appended to call.live_transcript; DTMF, barge-ins, AI errors and hang-ups become
    CallEvent rows; metrics and token usage are stored on the call.
    """
    kind = event.get("type")
    if kind == "transcript":
        call = Call.objects.select_for_update().get(pk=call_id)
        turn = {key: event[key] for key in ("speaker", "text", "start_ms", "end_ms") if key in event}
        call.live_transcript = [*call.live_transcript, turn]
        call.save(update_fields=["live_transcript"])
    elif kind in TIMELINE_EVENTS:
        CallEvent.objects.create(call_id=call_id, kind=kind, detail={k: v for k, v in event.items() if k != "type"})
    elif kind == "metrics":
        Call.objects.filter(pk=call_id).update(metrics={k: v for k, v in event.items() if k != "type"})
    elif kind == "usage":
        Call.objects.filter(pk=call_id).update(token_usage={k: v for k, v in event.items() if k != "type"})


@transaction.atomic
def call_stream_finished(*, call_id: int, end_reason: str | None, recording_name: str) -> Call:
    """The stream is over: link the recording and keep the first end reason.

    Writes call.recording (a name relative to MEDIA_ROOT), call.end_reason (unless one is set) and a
    `stream_ended` CallEvent. If Twilio already reported the call final, enqueues post-call processing now (the
    status callback found no recording yet) and wakes the call's waiters; otherwise the final callback will.
    """
    call = Call.objects.select_for_update().get(pk=call_id)
    call.recording.name = recording_name
    if end_reason and not call.end_reason:
        call.end_reason = end_reason
    call.save(update_fields=["recording", "end_reason"])
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_ENDED, detail={"end_reason": end_reason or ""})
    logger.info("Media stream ended sid=%s reason=%s recording=%s", call.twilio_sid, end_reason, recording_name)
    if call.is_final:
        process_call_enqueue(call=call)
        # Whoever waits for the call (POST /make_call) may be holding its answer for this recording.
        transaction.on_commit(lambda: call_notify_final(call=call))
    return call
