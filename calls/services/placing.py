"""Placing and ending calls: the contact checks, the Call row, the stream token and Twilio's dial request."""
import logging
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from calls import twilio_client
from calls.exceptions import CallNotNow, CallRefused, TwilioError, TwilioNotConfigured
from calls.models import FINAL_STATUSES, Call, CallEvent, CallStatus, EndReason
from calls.services.monitoring import call_test_hang_up_publish
from calls.services.status import call_mark_failed, call_sync_from_twilio
from calls.services.stream_tokens import stream_token_mint
from calls.services.waiting import call_notify_final
from calls.signals import call_final
from contacts.models import CallRefusal, Contact
from contacts.phones import InvalidPhoneNumber, normalize_phone

logger = logging.getLogger(__name__)

AMD_MODES = ("Enable", "DetectMessageEnd")
# Formatted when a call is refused (`% {"number": ...}`), so the reason is in the language active then.
_REFUSED = {
    CallRefusal.DO_NOT_CALL: gettext_lazy("%(number)s is on the do-not-call list."),
    CallRefusal.NUMBER_INVALID: gettext_lazy(
        "%(number)s was rejected by the carrier as invalid; correct the number before calling again."
    ),
    CallRefusal.BAD_NUMBER: gettext_lazy("%(number)s is not a valid phone number."),
    CallRefusal.COSTLY_NUMBER: gettext_lazy(
        "%(number)s is a premium-rate or shared-cost number; voicebot never calls those."
    ),
    CallRefusal.COUNTRY_NOT_ALLOWED: gettext_lazy(
        "%(number)s is in a country voicebot may not call; ALLOWED_CALL_COUNTRIES lists the countries it may."
    ),
}


# Any fixed key: the PostgreSQL advisory lock that serialises the live-call checks of every process.
_PLACING_LOCK = 0x766F6963  # "voic"


def place_call(
    *, contact: Contact | None = None, phone_number: str | None = None, campaign_id: int | None = None,
    campaign_attempt: int | None = None,
) -> Call:
    """Dial `contact` (or the contact owning `phone_number`, created if new) and return the queued Call.

    Writes a Contact (if new), a Call (status queued, stream token hash, Twilio SID), contact.last_called_at and
    CallEvents. On a Twilio refusal the call is recorded failed (end_reason dial_failed, error), the contact is
    marked number_invalid when Twilio calls the number invalid, and the TwilioError is re-raised. Enqueues nothing;
    Twilio reports progress to /twilio/status/<call code> (a URL of the call's own, so a callback that arrives before
    Twilio's answer to the dial still applies). Raises CallRefused (invalid, costly or foreign number, do-not-call)
    or TwilioNotConfigured before writing anything but the new contact, and CallNotNow when the number is on a
    call already or MAX_CONCURRENT_CALLS calls are not final yet (checked and the call written under one lock, so
    no two processes can both pass). `campaign_id`/`campaign_attempt` are written on the call.
    """
    # The request is checked before the setup: a missing number is the caller's 400, whatever the configuration.
    number = _number_to_call(contact=contact, phone_number=phone_number)
    cfg = twilio_client.twilio_settings()
    amd_mode = _amd_mode()
    contact, number = _contact_to_call(contact=contact, number=number)
    call, token = _call_create(contact=contact, number=number, campaign_id=campaign_id, attempt=campaign_attempt)
    logger.info("Dialling call=%s to contact=%s", call.code, contact.pk)
    try:
        state = twilio_client.twilio_calls_create(
            to=call.phone_number,
            from_=cfg.phone_number_from,
            twiml=twilio_client.twilio_stream_twiml(
                stream_url=twilio_client.twilio_stream_url(call_code=call.code), token=token),
            status_callback_url=cfg.public_base_url + reverse("twilio-status-call", kwargs={"code": call.code}),
            timeout=settings.RING_TIMEOUT,
            time_limit=_time_limit(),
            machine_detection=amd_mode,
            amd_callback_url=(
                cfg.public_base_url + reverse("twilio-amd-call", kwargs={"code": call.code}) if amd_mode else None
            ),
        )
    except TwilioError as exc:
        _call_dial_failed(call=call, error=exc)
        raise
    return _call_dialled(call=call, sid=state.sid)


def _number_to_call(*, contact: Contact | None, phone_number: str | None) -> str:
    raw = contact.phone_number if contact is not None else phone_number
    if not raw:
        raise CallRefused(_("A phone number is required."))
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumber as exc:
        raise CallRefused(_("%(number)s is not a valid phone number: %(reason)s.")
                          % {"number": raw, "reason": exc.reason_text}) from None


def _contact_to_call(*, contact: Contact | None, number: str) -> tuple[Contact, str]:
    if contact is None:
        contact, _created = Contact.objects.get_or_create(phone_number=number)
    refusal = contact.call_refusal()
    if refusal is not None:
        raise CallRefused(str(_REFUSED[refusal] % {"number": number}))
    return contact, number


@transaction.atomic
def _call_create(*, contact: Contact, number: str, campaign_id: int | None, attempt: int | None) -> tuple[Call, str]:
    _live_calls_lock()
    live = Call.objects.exclude(status__in=FINAL_STATUSES).filter(is_test=False)  # a browser test rings nobody
    if live.filter(phone_number=number).exists():
        raise CallNotNow(_("%(number)s is on another call right now; try again when it ends.") % {"number": number})
    limit = settings.MAX_CONCURRENT_CALLS
    if limit and live.count() >= limit:
        raise CallNotNow(_("%(limit)s calls are already under way (MAX_CONCURRENT_CALLS); try again when one ends.")
                         % {"limit": limit})
    call = Call.objects.create(contact=contact, phone_number=number, campaign_id=campaign_id,
                               campaign_attempt=attempt)
    token = stream_token_mint(call=call)
    return call, token


def _live_calls_lock() -> None:
    """Hold, until the transaction ends, the lock under which live calls are counted and a new one written.

    SQLite's IMMEDIATE transactions already take the database's write lock at BEGIN; PostgreSQL takes an advisory
    lock, so two processes counting at once cannot both pass.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PLACING_LOCK])


def _call_dialled(*, call: Call, sid: str) -> Call:
    # Saved outside any transaction held during the HTTP request, so status callbacks are never blocked by it.
    with transaction.atomic():
        call.twilio_sid = sid
        call.save(update_fields=["twilio_sid"])
        Contact.objects.filter(pk=call.contact_id).update(last_called_at=timezone.now())
        CallEvent.objects.create(call=call, kind=CallEvent.Kind.DIALLED, detail={"sid": sid})
    logger.info("Dialled sid=%s call=%s", sid, call.code)
    return call


def call_link_twilio_sid(*, code: uuid.UUID, call_sid: str) -> bool:
    """Save `call_sid` on the call `code` unless it has a SID already; whether the call now carries `call_sid`.

    Twilio can report on a call (a fast `failed`, `ringing`) before answering the dial request that tells us its
    SID. Writes call.twilio_sid only; the dial's answer, when it comes, writes the same SID and the DIALLED event.
    """
    Call.objects.filter(Q(twilio_sid__isnull=True) | Q(twilio_sid=""), code=code).update(twilio_sid=call_sid)
    return Call.objects.filter(code=code, twilio_sid=call_sid).exists()


def _call_dial_failed(*, call: Call, error: TwilioError) -> None:
    logger.warning("Dial failed call=%s code=%s: %s", call.code, error.code, error.message)
    if error.is_invalid_number:
        Contact.objects.filter(pk=call.contact_id).update(number_invalid=True)
    CallEvent.objects.create(
        call=call, kind=CallEvent.Kind.DIAL_FAILED, detail={"code": error.code, "message": error.message}
    )
    call_mark_failed(call=call, error=error.message, end_reason=EndReason.DIAL_FAILED)
    call.refresh_from_db()


def _time_limit() -> int | None:
    """Twilio's hard ceiling: our own limit plus a grace for the goodbye; none when the limit is off (0)."""
    if not settings.CALL_DURATION_LIMIT:
        return None
    return settings.CALL_DURATION_LIMIT + settings.CALL_TIME_LIMIT_GRACE


def _amd_mode() -> str | None:
    if settings.AMD_MODE in ("", "off"):
        return None
    if settings.AMD_MODE not in AMD_MODES:
        raise TwilioNotConfigured(_("AMD_MODE must be off, Enable or DetectMessageEnd, not %(value)s.")
                                  % {"value": repr(settings.AMD_MODE)})
    return settings.AMD_MODE


def call_hang_up(*, call: Call) -> Call:
    """Ask Twilio to end `call` now (ringing or talking); its status then arrives by callback.

    Writes end_reason=staff_hangup (unless a reason is already set) and a CallEvent; a call that never reached
    Twilio becomes canceled locally; a test call from the browser is told to end through its live feed. Raises TwilioError if Twilio refuses. Enqueues nothing.
    """
    if call.is_final:
        return call
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.HANGUP_REQUESTED, detail={})
    if call.is_test:  # talking in a browser, not on Twilio: its socket closes, and the call ends as completed
        Call.objects.filter(pk=call.pk, end_reason="").update(end_reason=EndReason.STAFF_HANGUP)
        call_test_hang_up_publish(call=call)
        call.refresh_from_db()
        return call
    if not call.twilio_sid:
        with transaction.atomic():
            canceled = Call.objects.filter(pk=call.pk, status=CallStatus.QUEUED).update(
                status=CallStatus.CANCELED, end_reason=EndReason.STAFF_HANGUP, ended_at=timezone.now()
            )
            call.refresh_from_db()
            if canceled:
                call_final.send(sender=Call, call=call)
        call_notify_final(call=call)
        return call
    try:
        twilio_client.twilio_calls_hangup(sid=call.twilio_sid)
    except TwilioError as exc:
        if not exc.is_call_not_live:
            raise
        # Twilio says the call is already over: take its word for the final state.
        call_sync_from_twilio(call=call)
    else:
        # The "completed" callback may already have landed; the reason is filled in either way.
        Call.objects.filter(pk=call.pk, end_reason="").update(end_reason=EndReason.STAFF_HANGUP)
    logger.info("Hang-up requested sid=%s", call.twilio_sid)
    call.refresh_from_db()
    return call


def call_say_and_hang_up(*, call: Call, text: str) -> None:
    """Make Twilio say `text` on the live call, then hang up (the AI failed mid-call). Writes a CallEvent."""
    twilio_client.twilio_calls_say_and_hangup(sid=call.twilio_sid, text=text, language=settings.TWILIO_SAY_LANGUAGE)
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.SAY_AND_HANGUP, detail={"text": text})
    logger.info("Said goodbye and hung up sid=%s", call.twilio_sid)
