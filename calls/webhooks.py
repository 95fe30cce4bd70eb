"""Twilio's webhooks: call status callbacks, answering-machine detection and a transfer's TwiML, each signed by Twilio.

Each view checks the signature and the params, hands the callback to one service, and answers so that Twilio does
not retry what it need not. A database that refuses the write is retried and, failing that, the callback is kept
for the worker (calls.services.webhook_spool): answered 200, never 500 and lost.
"""
import logging
import uuid
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import twilio_client
from calls.exceptions import TwilioNotConfigured
from calls.models import Call, CallStatus
from calls.transfer import DIAL_STATUSES, call_transfer_outcome, call_transfer_whisper
from calls.services.status import CallbackOutcome
from calls.services.webhook_spool import twilio_callback_apply_or_spool
from voicebot_site.log_safety import log_value

logger = logging.getLogger(__name__)


def _signed_by_twilio(request: HttpRequest) -> bool:
    """Check X-Twilio-Signature against the public URL Twilio called (not our Host header, which a proxy rewrites)."""
    try:
        url = twilio_client.twilio_public_url(request.get_full_path())
        return twilio_client.twilio_request_is_valid(
            url=url, params=request.POST, signature=request.headers.get("X-Twilio-Signature", "")
        )
    except TwilioNotConfigured:
        logger.error("Twilio webhook refused: Twilio settings are missing, the signature cannot be checked")
        return False


def twilio_webhook(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A POST from Twilio: no CSRF token, but its signature must match, else 403 before the view runs.

    The view gets the call's code when the URL names the call (`/twilio/status/<code>`): the signature covers the
    URL, so the code is Twilio's word, not the caller's.
    """

    @csrf_exempt
    @require_POST
    @wraps(view)
    def signed_view(request: HttpRequest, code: uuid.UUID | None = None) -> HttpResponse:
        if not _signed_by_twilio(request):
            sid = request.POST.get("CallSid", "")
            logger.warning("Refused unsigned or forged %s sid=%s", view.__name__, log_value(sid))
            return HttpResponse("Invalid signature", status=403)
        return view(request, code)

    return signed_view


def _apply(request: HttpRequest, *, kind: str, code: uuid.UUID | None) -> CallbackOutcome:
    return twilio_callback_apply_or_spool(
        kind=kind,
        code=code,
        params=[(name, value) for name, values in request.POST.lists() for value in values],
        path=request.get_full_path(),
        signature=request.headers.get("X-Twilio-Signature", ""),
    )


@twilio_webhook
def twilio_status(request: HttpRequest, code: uuid.UUID | None) -> HttpResponse:
    sid, call_status = request.POST.get("CallSid", ""), request.POST.get("CallStatus", "")
    if call_status not in CallStatus.values:
        logger.warning("Status callback with unknown CallStatus=%s sid=%s", log_value(call_status), log_value(sid))
        return HttpResponse("Unknown CallStatus", status=400)
    outcome = _apply(request, kind="status", code=code)
    if outcome == CallbackOutcome.REPLAYED:
        # Signed, but already applied: a captured request sent again. Twilio itself never needs this answered.
        logger.warning("Refused replayed status callback sid=%s seq=%s", log_value(sid),
                       log_value(request.POST.get("SequenceNumber", "")))
        return HttpResponse("Replayed callback", status=403)
    if outcome == CallbackOutcome.UNKNOWN_CALL:
        # 200 all the same, so Twilio doesn't retry a callback for a call we don't know.
        logger.info("Status callback for unknown sid=%s status=%s", log_value(sid), call_status)
    return HttpResponse(status=200)


@twilio_webhook
def twilio_amd(request: HttpRequest, code: uuid.UUID | None) -> HttpResponse:
    sid, answered_by = request.POST.get("CallSid", ""), request.POST.get("AnsweredBy", "")
    if not answered_by:
        return HttpResponse("AnsweredBy is required", status=400)
    if _apply(request, kind="amd", code=code) == CallbackOutcome.UNKNOWN_CALL:
        logger.info("AMD callback for unknown sid=%s", log_value(sid))
    return HttpResponse(status=200)


def _twiml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


@twilio_webhook
def twilio_transfer_outcome(request: HttpRequest, code: uuid.UUID | None) -> HttpResponse:
    """The `<Dial>` of a transfer ended: record DialCallStatus; answer what the callee hears next (calls.transfer)."""
    status = request.POST.get("DialCallStatus", "")
    if status not in DIAL_STATUSES:
        logger.warning("Transfer outcome with unknown DialCallStatus=%s call=%s", log_value(status), code)
        return HttpResponse("Unknown DialCallStatus", status=400)
    call = Call.objects.select_related("campaign").filter(code=code).first()
    if call is None:
        return HttpResponse("Unknown call", status=404)
    return _twiml(call_transfer_outcome(call=call, params=request.POST))


@twilio_webhook
def twilio_transfer_whisper(request: HttpRequest, code: uuid.UUID | None) -> HttpResponse:
    """The person a call is transferred to picked up: the TwiML they hear before the callee joins."""
    call = Call.objects.select_related("campaign").filter(code=code).first()
    if call is None:
        return HttpResponse("Unknown call", status=404)
    return _twiml(call_transfer_whisper(call=call))
