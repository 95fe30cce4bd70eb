"""Twilio's webhooks: call status callbacks and answering-machine detection, each signed by Twilio.

Each view checks the signature, calls one service, and answers so that Twilio does not retry what it need not.
"""
import logging
import uuid
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import services, twilio_client
from calls.exceptions import TwilioError, TwilioNotConfigured
from calls.models import CallStatus
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

    When the URL names the call (`/twilio/status/<code>`), the call's SID is saved from the callback if the dial's
    answer has not saved it yet: the signature covers the URL, so the code is Twilio's word, not the caller's.
    """

    @csrf_exempt
    @require_POST
    @wraps(view)
    def signed_view(request: HttpRequest, code: uuid.UUID | None = None) -> HttpResponse:
        sid = request.POST.get("CallSid", "")
        if not _signed_by_twilio(request):
            logger.warning("Refused unsigned or forged %s sid=%s", view.__name__, log_value(sid))
            return HttpResponse("Invalid signature", status=403)
        if code is not None and sid and not services.call_link_twilio_sid(code=code, call_sid=sid):
            # The call has another SID: the CallSid alone decides which call this reports on, as on the shared URL.
            logger.warning("Callback sid=%s names call=%s, which has another SID", log_value(sid), code)
        return view(request)

    return signed_view


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


@twilio_webhook
def twilio_status(request: HttpRequest) -> HttpResponse:
    sid, call_status = request.POST.get("CallSid", ""), request.POST.get("CallStatus", "")
    if call_status not in CallStatus.values:
        logger.warning("Status callback with unknown CallStatus=%s sid=%s", log_value(call_status), log_value(sid))
        return HttpResponse("Unknown CallStatus", status=400)
    sequence_number = _int_or_none(request.POST.get("SequenceNumber"))
    if services.call_status_callback_replayed(call_sid=sid, sequence_number=sequence_number):
        # Signed, but already applied: a captured request sent again. Twilio itself never needs this answered.
        logger.warning("Refused replayed status callback sid=%s seq=%s", log_value(sid), sequence_number)
        return HttpResponse("Replayed callback", status=403)
    call = services.call_update_status(
        call_sid=sid,
        status=call_status,
        sequence_number=sequence_number,
        duration=_int_or_none(request.POST.get("CallDuration")),
        answered_by=request.POST.get("AnsweredBy") or None,
    )
    if call is None:
        # 200 all the same, so Twilio doesn't retry a callback for a call we don't know.
        logger.info("Status callback for unknown sid=%s status=%s", log_value(sid), call_status)
    return HttpResponse(status=200)


@twilio_webhook
def twilio_amd(request: HttpRequest) -> HttpResponse:
    sid, answered_by = request.POST.get("CallSid", ""), request.POST.get("AnsweredBy", "")
    if not answered_by:
        return HttpResponse("AnsweredBy is required", status=400)
    try:
        call = services.call_apply_amd(call_sid=sid, answered_by=answered_by)
    except TwilioError as exc:
        # Twilio would retry on an error; the call ends by its TimeLimit anyway.
        logger.warning("AMD action failed sid=%s: %s", log_value(sid), exc.message)
        return HttpResponse(status=200)
    if call is None:
        logger.info("AMD callback for unknown sid=%s", log_value(sid))
    return HttpResponse(status=200)
