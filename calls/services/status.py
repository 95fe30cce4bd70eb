"""A call's state as Twilio reports it: status callbacks, AMD results, reconciliation of lost updates."""
import logging
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls import twilio_client
from calls import prompt_variables
from calls.agent_config import load_agent_config
from calls.services.prompt_values import call_prompt_values
from calls.exceptions import TwilioError
from calls.live.amd_channel import amd_publish
from calls.models import FINAL_STATUSES, Call, CallEvent, CallStatus, EndReason, status_can_move
from calls.pricing import call_cost_update
from calls.services.monitoring import call_monitor_status_publish
from calls.services.recordings import (
    call_recording_recover,
    call_recordings_recover_final,
    call_stream_recover,
    call_stream_running,
)
from calls.services.waiting import call_notify_final
from calls.signals import call_final
from extraction.services import process_call_after_call
from voicebot_site.log_safety import log_value

logger = logging.getLogger(__name__)

MACHINE_ANSWERS = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")
_END_REASONS = {
    CallStatus.BUSY: EndReason.NOT_ANSWERED,
    CallStatus.NO_ANSWER: EndReason.NOT_ANSWERED,
    CallStatus.FAILED: EndReason.DIAL_FAILED,
}


@transaction.atomic
def call_update_status(
    *,
    call_sid: str,
    status: str,
    sequence_number: int | None,
    duration: float | None = None,
    answered_by: str | None = None,
    end_reason: str = "",
    source: str = "callback",
) -> Call | None:
    """Apply one Twilio status report to the call `call_sid`; None when the SID is unknown.

    Idempotent: a report whose SequenceNumber was already applied changes nothing, and a call never moves backwards.
    Writes the call's status, status_sequence, answered_at/ended_at/duration/end_reason and one CallEvent per move;
    on a final state, its cost (calls.pricing).
    On a final state, after commit: wakes waiters and, if there is a recording, queues post-call processing
    (extraction.services.process_call_enqueue, which marks call.processing queued).
    """
    call = Call.objects.select_for_update().filter(twilio_sid=call_sid).first()
    if call is None:
        return None
    if status not in CallStatus.values:
        logger.warning("Ignoring unknown status sid=%s status=%r", call_sid, status)
        return call
    if sequence_number is not None:
        if sequence_number <= call.status_sequence:
            logger.info("Ignoring replayed status sid=%s seq=%s status=%s", call_sid, sequence_number, status)
            return call
        call.status_sequence = sequence_number
    if answered_by and not call.answered_by:
        call.answered_by = answered_by
    moved = status_can_move(call.status, status)
    if moved:
        _move(call=call, status=status, duration=duration, end_reason=end_reason)
        logger.info("Call status sid=%s %s (seq=%s, %s)", call_sid, status, sequence_number, source)
    else:
        logger.info("Ignoring backwards status sid=%s %s -> %s", call_sid, call.status, status)
    call.save()
    if moved:
        detail = {"status": status, "sequence_number": sequence_number, "duration": duration, "source": source}
        CallEvent.objects.create(call=call, kind=CallEvent.Kind.STATUS, detail=detail)
        call_monitor_status_publish(call=call)
        if call.is_final:
            call_cost_update(call_id=call.pk)  # Twilio's minutes are known now
            call.refresh_from_db(fields=["cost", "cost_total"])  # what call_final's listeners (webhooks) send
            _after_final(call=call)
    return call


class CallbackOutcome(StrEnum):
    """What applying one Twilio callback did."""

    APPLIED = "applied"
    REPLAYED = "replayed"  # this exact callback was applied before: nothing changed
    UNKNOWN_CALL = "unknown_call"
    SPOOLED = "spooled"  # the database refused it: kept on disk for the worker (calls.services.webhook_spool)


def call_status_callback_apply(*, params: Mapping[str, str]) -> CallbackOutcome:
    """Apply a signed status callback's POST params (CallSid, CallStatus, SequenceNumber, CallDuration, AnsweredBy).

    Safe to repeat: a callback already applied is REPLAYED and changes nothing. Writes what call_update_status writes.
    """
    sid = params.get("CallSid", "")
    sequence_number = _int_or_none(params.get("SequenceNumber"))
    if call_status_callback_replayed(call_sid=sid, sequence_number=sequence_number):
        return CallbackOutcome.REPLAYED
    call = call_update_status(
        call_sid=sid,
        status=params.get("CallStatus", ""),
        sequence_number=sequence_number,
        duration=_int_or_none(params.get("CallDuration")),
        answered_by=params.get("AnsweredBy") or None,
    )
    return CallbackOutcome.UNKNOWN_CALL if call is None else CallbackOutcome.APPLIED


def call_amd_callback_apply(*, params: Mapping[str, str]) -> CallbackOutcome:
    """Apply a signed AMD callback's POST params (CallSid, AnsweredBy): what call_apply_amd writes and asks Twilio.

    Safe to repeat (the first AnsweredBy stays). A failed hang-up is logged, not raised: the call ends by its
    TimeLimit anyway, and Twilio would only retry the callback.
    """
    sid = params.get("CallSid", "")
    try:
        call = call_apply_amd(call_sid=sid, answered_by=params.get("AnsweredBy", ""))
    except TwilioError as exc:
        logger.warning("AMD action failed sid=%s: %s", log_value(sid), exc.message)
        return CallbackOutcome.APPLIED
    return CallbackOutcome.UNKNOWN_CALL if call is None else CallbackOutcome.APPLIED


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def call_status_callback_replayed(*, call_sid: str, sequence_number: int | None) -> bool:
    """Whether this exact status callback (CallSid + SequenceNumber) was already applied: a replay. Writes nothing.

    A late but new callback (a lower SequenceNumber never seen) is not a replay: it is accepted and ignored.
    """
    if sequence_number is None:
        return False
    return CallEvent.objects.filter(
        call__twilio_sid=call_sid, kind=CallEvent.Kind.STATUS, detail__sequence_number=sequence_number
    ).exists()


def _move(*, call: Call, status: str, duration: float | None, end_reason: str) -> None:
    now = timezone.now()
    call.status = status
    if status == CallStatus.IN_PROGRESS and call.answered_at is None:
        call.answered_at = now
    if status not in FINAL_STATUSES:
        return
    call.ended_at = call.ended_at or now
    if duration is not None:
        call.duration = float(duration)
        if status == CallStatus.COMPLETED and call.answered_at is None and duration > 0:
            # The "answered" callback was lost; the duration tells when the callee picked up.
            call.answered_at = call.ended_at - timedelta(seconds=float(duration))
    if not call.end_reason:
        call.end_reason = end_reason or _END_REASONS.get(status, "")
        if not call.end_reason and call.answered_by in MACHINE_ANSWERS:
            call.end_reason = EndReason.VOICEMAIL


def _after_final(*, call: Call) -> None:
    call_final.send(sender=Call, call=call)  # in the transaction that made it final: its campaign contact settles
    transaction.on_commit(lambda: call_notify_final(call=call))
    # The recording is linked when the stream starts; while the stream runs it is still being written, and the
    # stream's end enqueues the processing (calls.services.streaming.call_stream_finished).
    if call.recording and not call_stream_running(call=call):
        process_call_after_call(call=call)


def call_apply_amd(*, call_sid: str, answered_by: str) -> Call | None:
    """Record who answered (AMD) and act on it: a call whose media stream runs hears it from its relay (through
    the Channels layer: `calls.live.amd_channel`), which greets, leaves the voicemail line in the bot's voice or
    hangs up (AMD_ACTION); without a live stream, a machine or fax gets Twilio's <Say> of the message, or hung up.

    Writes call.answered_by (once: a replayed callback changes nothing), end_reason=voicemail for a machine and a
    CallEvent. Enqueues nothing.
    """
    call = Call.objects.filter(twilio_sid=call_sid).first()
    if call is None:
        return None
    if not Call.objects.filter(pk=call.pk, answered_by="").update(answered_by=answered_by):
        logger.info("Ignoring replayed AMD result sid=%s", call_sid)
        return call
    call.answered_by = answered_by
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.AMD, detail={"answered_by": answered_by})
    logger.info("AMD sid=%s answered_by=%s", call_sid, answered_by)
    machine = answered_by in MACHINE_ANSWERS and not call.is_final
    if machine:
        Call.objects.filter(pk=call.pk, end_reason="").update(end_reason=EndReason.VOICEMAIL)
    if call_stream_running(call=call):
        # The live call acts on it: greets, or leaves the message in the bot's own voice, or hangs up.
        amd_publish(call_code=call.code, call_sid=call_sid, answered_by=answered_by)
    elif machine:
        _leave_machine(call=call)
    return call


def _leave_machine(*, call: Call) -> None:
    if settings.AMD_ACTION == "voicemail":
        agent = load_agent_config(settings.AI_CONFIG_DIR, call.agent_profile).agent
        values = call_prompt_values(call_id=call.pk, used=prompt_variables.variables_in(agent.voicemail))
        message = prompt_variables.render(agent.voicemail, values)
        twilio_client.twilio_calls_say_and_hangup(
            sid=call.twilio_sid, text=message, language=settings.TWILIO_SAY_LANGUAGE
        )
    else:
        twilio_client.twilio_calls_hangup(sid=call.twilio_sid)


def call_sync_from_twilio(*, call: Call, end_reason: str = "") -> Call:
    """Fetch the call from Twilio and apply what it says (same rules as a status callback, no sequence number).

    Writes what call_update_status writes; a call Twilio does not know becomes failed. A call that never reached
    Twilio (a test call from the browser) is returned as it is.
    """
    if not call.twilio_sid:
        return call
    try:
        state = twilio_client.twilio_calls_fetch(sid=call.twilio_sid)
    except TwilioError as exc:
        if not exc.is_not_found:
            raise
        return call_mark_failed(call=call, error="Twilio has no record of this call.", end_reason=EndReason.STALE)
    updated = call_update_status(
        call_sid=call.twilio_sid, status=state.status, sequence_number=None, duration=state.duration,
        answered_by=state.answered_by, end_reason=end_reason, source="fetch",
    )
    return updated or call


@transaction.atomic
def call_mark_failed(*, call: Call, error: str, end_reason: str) -> Call:
    """Make a not-yet-final call `failed` with `error`. Writes the call and a CallEvent; wakes waiters."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.is_final:
        return call
    call.status = CallStatus.FAILED
    call.end_reason = call.end_reason or end_reason
    call.error = error
    call.ended_at = timezone.now()
    call.save()
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.FAILED, detail={"error": error, "end_reason": end_reason})
    _after_final(call=call)
    return call


@transaction.atomic
def call_test_finish(*, call_id: int, end_reason: str = "") -> Call | None:
    """A test call's stream is over (`calls.live.browser_call`): no Twilio will say so, so it ends here, completed.

    Writes status completed, ended_at, duration (from answered_at), end_reason (unless one is set), a `status`
    CallEvent and its cost; then what a final status does (call_final, waiters, processing of its recording).
    A call already final (or deleted) is left as it is; returns the call, or None.
    """
    call = Call.objects.select_for_update().filter(pk=call_id, is_test=True).first()
    if call is None or call.is_final:
        return call
    duration = (timezone.now() - call.answered_at).total_seconds() if call.answered_at else 0.0
    _move(call=call, status=CallStatus.COMPLETED, duration=round(duration, 1), end_reason=end_reason)
    call.save()
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STATUS,
                             detail={"status": CallStatus.COMPLETED, "duration": call.duration, "source": "browser"})
    logger.info("Test call ended call=%s reason=%s", call.code, call.end_reason)
    call_monitor_status_publish(call=call)
    call_cost_update(call_id=call.pk)
    call.refresh_from_db(fields=["cost", "cost_total"])
    _after_final(call=call)
    return call


def call_reconcile_stale(*, older_than_seconds: int | None = None) -> int:
    """Settle calls that are still not final long after they should have ended (lost callbacks, crashes), then
    finish the final calls whose stream's end was lost (`call_recordings_recover_final`).

    For each stale call: asks Twilio for its state and applies it (end_reason=stale when that ends it); a call that
    never reached Twilio becomes failed. Returns how many stale calls are final now. Writes what
    call_update_status writes; links recordings and enqueues their processing as call_recordings_recover_final does.
    """
    age = older_than_seconds if older_than_seconds is not None else settings.CALL_STALE_AFTER
    cutoff = timezone.now() - timedelta(seconds=age)
    settled = 0
    for call in Call.objects.exclude(status__in=FINAL_STATUSES).filter(created_at__lt=cutoff):
        try:
            settled += _reconcile_one(call=call).is_final
        except TwilioError as exc:
            logger.warning("Could not reconcile sid=%s call=%s: %s", call.twilio_sid, call.code, exc.message)
    recovered = call_recordings_recover_final()
    if recovered:
        logger.info("Queued processing of %d final calls whose stream end was lost", recovered)
    return settled


def _reconcile_one(*, call: Call) -> Call:
    if call.is_test:  # no Twilio to ask: its browser's socket went away without a word (a web process died)
        call_recording_recover(call=call)
        return call_test_finish(call_id=call.pk, end_reason=EndReason.STALE) or call
    if not call.twilio_sid:
        return call_mark_failed(call=call, error="The call never reached Twilio.", end_reason=EndReason.STALE)
    # A web process that died mid-call left its recording on disk, unlinked: link it before the final status
    # arrives, so that post-call processing starts with it.
    call_recording_recover(call=call)
    call = call_sync_from_twilio(call=call, end_reason=EndReason.STALE)
    logger.info("Reconciled sid=%s status=%s", call.twilio_sid, call.status)
    if call.is_final and call_stream_running(call=call):
        # Twilio ended the call long after its callbacks stopped coming, and the stream never reported its end:
        # the process that held it is gone, so its recording is processed now rather than at the next sweep.
        call_stream_recover(call=call)
    return call
