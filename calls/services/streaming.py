"""What the media stream writes: the stream's start, the relay's events, and the finished recording.

Called by `calls.live.consumer.MediaStreamConsumer` through `database_sync_to_async`, never on the audio path:
a write at the start, one per transcript turn or timeline event, and one at the end (the relay's `StreamEnded`,
or the consumer's own when no relay ever ran).
"""
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from calls.live.relay import events
from calls.models import Call, CallEvent, EndReason
from calls.pricing import call_cost_update
from calls.services.recordings import recording_name_for
from calls.services.waiting import call_notify_final
from extraction.services import process_call_after_call

logger = logging.getLogger(__name__)


@transaction.atomic
def call_stream_started(*, call: Call, stream_sid: str) -> str:
    """Record the Twilio stream SID and link the recording the stream is about to write; returns its name.

    Writes call.stream_sid, call.recording (a name relative to MEDIA_ROOT) and a `stream_started` CallEvent. The
    recording is linked now, not when the stream ends: a web process killed mid-call (or cancelled before its
    disconnect finished) still leaves the call pointing at the partial recording, which the reconcile sweep then
    processes (`call_stream_recover`).
    """
    name = recording_name_for(call=call)
    Call.objects.filter(pk=call.pk).update(stream_sid=stream_sid, recording=name)
    call.stream_sid, call.recording.name = stream_sid, name
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_STARTED, detail={"stream_sid": stream_sid})
    logger.info("Media stream started sid=%s stream=%s", call.twilio_sid, stream_sid)
    return name


@transaction.atomic
def call_stream_failed(*, call_id: int, reason: str) -> Call:
    """The stream could not start (the AI, its configuration, the recording or the database failed after the token
    was spent): record why and finish the stream with end_reason ai_unavailable.

    Writes an `ai_unavailable` CallEvent ({"detail": reason}) and what `call_stream_finished` writes; the recording
    stays linked only if its file was created.
    """
    CallEvent.objects.create(call_id=call_id, kind=CallEvent.Kind.AI_UNAVAILABLE, detail={"detail": reason})
    call = Call.objects.get(pk=call_id)
    exists = bool(call.recording) and (Path(settings.MEDIA_ROOT) / call.recording.name).is_file()
    return call_stream_finished(call_id=call_id, end_reason=EndReason.AI_UNAVAILABLE,
                                recording_name=call.recording.name if exists else "")


# The relay's moments that become a line on the call's timeline (and a line on a watcher's page).
TIMELINE_KINDS: dict[type, CallEvent.Kind] = {
    events.Dtmf: CallEvent.Kind.DTMF,
    events.BargeIn: CallEvent.Kind.BARGE_IN,
    events.AiError: CallEvent.Kind.AI_ERROR,
    events.AiUnavailable: CallEvent.Kind.AI_UNAVAILABLE,
    events.HangUp: CallEvent.Kind.HANG_UP,
    events.ToolCalled: CallEvent.Kind.TOOL_CALLED,
    events.AmdWaitOver: CallEvent.Kind.AMD,
}


@transaction.atomic
def call_relay_event_record(*, call_id: int, event: events.RelayEvent) -> None:
    """Persist one relay event as it happens, so a crash keeps what was said.

    Transcript turns are appended to call.live_transcript; DTMF, barge-ins, AI errors, AI loss, hang-ups, tool
    calls and an answering-machine verdict that never came become CallEvent rows; metrics and token usage (with the session's model, priced into Call.cost) are stored on the call; `StreamEnded` finishes the stream
    (`call_stream_finished`). An event of any other type raises TypeError: none is dropped unnoticed.
    """
    match event:
        case events.TranscriptTurn(speaker=speaker, text=text, start_ms=start_ms, end_ms=end_ms):
            call = Call.objects.select_for_update().get(pk=call_id)
            turn = {"speaker": speaker, "text": text, "start_ms": start_ms, "end_ms": end_ms}
            call.live_transcript = [*call.live_transcript, turn]
            call.save(update_fields=["live_transcript"])
        case events.Dtmf() | events.BargeIn() | events.AiError() | events.AiUnavailable() | events.HangUp() \
                | events.ToolCalled() | events.AmdWaitOver():
            _timeline_add(call_id=call_id, kind=TIMELINE_KINDS[type(event)], event=event)
        case events.CallMetrics():
            Call.objects.filter(pk=call_id).update(metrics=asdict(event))
        case events.TokenUsage(responses=responses, tokens=tokens):
            usage = {"model": settings.OPENAI_REALTIME_MODEL, "responses": responses, **tokens}
            Call.objects.filter(pk=call_id).update(token_usage=usage)
            call_cost_update(call_id=call_id)
        case events.StreamEnded(reason=reason, recording=recording):
            # The recorder was opened at MEDIA_ROOT / name by the consumer; the call stores the name.
            name = Path(recording).relative_to(settings.MEDIA_ROOT).as_posix()
            call_stream_finished(call_id=call_id, end_reason=reason, recording_name=name)
        case _:
            raise TypeError(f"not a relay event: {event!r}")


def _timeline_add(*, call_id: int, kind: CallEvent.Kind, event: Any) -> None:
    CallEvent.objects.create(call_id=call_id, kind=kind, detail=timeline_detail(event))


def timeline_detail(event: Any) -> dict[str, Any]:
    """A relay event's fields as its timeline entry keeps them (None left out)."""
    return {key: value for key, value in asdict(event).items() if value is not None}


@transaction.atomic
def call_stream_finished(*, call_id: int, end_reason: str | None, recording_name: str) -> Call | None:
    """The stream is over: link the recording and keep the first end reason.

    Writes call.recording (a name relative to MEDIA_ROOT), call.end_reason (unless one is set) and a
    `stream_ended` CallEvent. If Twilio already reported the call final, enqueues post-call processing now (the
    status callback found no recording yet) and wakes the call's waiters; otherwise the final callback will.
    A call deleted while it streamed (staff, or its contact) gets nothing: its recording file is deleted, None.
    """
    call = Call.objects.select_for_update().filter(pk=call_id).first()
    if call is None:
        if recording_name:
            Call._meta.get_field("recording").storage.delete(recording_name)
        logger.info("Media stream ended for deleted call=%s: recording removed", call_id)
        return None
    call.recording.name = recording_name
    if end_reason and not call.end_reason:
        call.end_reason = end_reason
    call.save(update_fields=["recording", "end_reason"])
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STREAM_ENDED, detail={"end_reason": end_reason or ""})
    logger.info("Media stream ended sid=%s reason=%s recording=%s", call.twilio_sid, end_reason, recording_name)
    if call.is_final:
        process_call_after_call(call=call)
        # Whoever waits for the call (POST /make_call) may be holding its answer for this recording.
        transaction.on_commit(lambda: call_notify_final(call=call))
    return call
