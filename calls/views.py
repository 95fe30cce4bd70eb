"""Doors for placing calls: Twilio's webhooks, the prototype's blocking `/make_call`, and the calls API.

Each view checks who is asking, calls one service and maps the calls domain errors to HTTP here, once.
"""
import json
import logging
from collections.abc import Callable
from functools import wraps

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotAuthenticated, AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from drf_spectacular.utils import extend_schema

from calls import services, twilio_client
from calls.exceptions import (
    CallError,
    CallRefused,
    CallWaitTimeout,
    TwilioError,
    TwilioNotConfigured,
)
from calls.models import Call, CallStatus
from contacts.models import Contact

logger = logging.getLogger(__name__)


# --- Twilio webhooks ---


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


def twilio_webhook(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """A POST from Twilio: no CSRF token, but its signature must match, else 403 before the view runs."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def signed_view(request: HttpRequest) -> HttpResponse:
        if not _signed_by_twilio(request):
            logger.warning("Refused unsigned or forged %s sid=%s", view.__name__, request.POST.get("CallSid"))
            return HttpResponse("Invalid signature", status=403)
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
        logger.warning("Status callback with unknown CallStatus=%r sid=%s", call_status, sid)
        return HttpResponse("Unknown CallStatus", status=400)
    sequence_number = _int_or_none(request.POST.get("SequenceNumber"))
    if services.call_status_callback_replayed(call_sid=sid, sequence_number=sequence_number):
        # Signed, but already applied: a captured request sent again. Twilio itself never needs this answered.
        logger.warning("Refused replayed status callback sid=%s seq=%s", sid, sequence_number)
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
        logger.info("Status callback for unknown sid=%s status=%s", sid, call_status)
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
        logger.warning("AMD action failed sid=%s: %s", sid, exc.message)
        return HttpResponse(status=200)
    if call is None:
        logger.info("AMD callback for unknown sid=%s", sid)
    return HttpResponse(status=200)


# --- The prototype's blocking /make_call ---


class _StaffGate(APIView):
    """DRF's own authentication, permission and throttle checks, for a plain async Django view."""

    def authorize(self, request: HttpRequest) -> JsonResponse | None:
        self.args, self.kwargs, self.headers = (), {}, {}
        drf_request = self.initialize_request(request)
        self.request = drf_request
        try:
            self.initial(drf_request)
        except APIException as exc:
            response = JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)
            if isinstance(exc, (NotAuthenticated, AuthenticationFailed)):
                challenge = self.get_authenticate_header(drf_request)
                if challenge:
                    response["WWW-Authenticate"] = challenge
                else:
                    response.status_code = status.HTTP_403_FORBIDDEN
            return response
        return None


def _twilio_error_status(exc: TwilioError) -> int:
    """A number Twilio will not call is the caller's problem (400); anything else is Twilio's or our setup's (502)."""
    if exc.permanent and exc.status and 400 <= exc.status < 500 and exc.code != 20003:
        return status.HTTP_400_BAD_REQUEST
    return status.HTTP_502_BAD_GATEWAY


def _make_call_result(call: Call) -> dict:
    return {
        "call_sid": call.twilio_sid,
        "phone_number": call.phone_number,
        "call_status": call.status,
        "stream_sid": call.stream_sid or None,
        "call_duration": call.duration,
        "audio_file_name": call.recording.name or None,
    }


@csrf_exempt
async def make_call(request: HttpRequest) -> JsonResponse:
    """Place a call and answer only when it has ended (or MAKE_CALL_TIMEOUT passed), as the prototype did."""
    if request.method != "POST":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    denied = await sync_to_async(_StaffGate().authorize)(request)
    if denied is not None:
        return denied
    try:
        phone_number = json.loads(request.body or b"{}").get("phone_number")
    except (ValueError, AttributeError):
        return JsonResponse({"detail": "The body must be JSON: {\"phone_number\": \"...\"}."}, status=400)
    try:
        call = await sync_to_async(services.place_call)(phone_number=phone_number)
    except CallRefused as exc:
        return JsonResponse({"detail": exc.message}, status=400)
    except TwilioNotConfigured as exc:
        return JsonResponse({"error": exc.message}, status=503)
    except TwilioError as exc:
        return JsonResponse({"error": exc.message}, status=_twilio_error_status(exc))
    try:
        call = await services.call_wait_final(call=call, timeout=settings.MAKE_CALL_TIMEOUT)
    except CallWaitTimeout:
        return JsonResponse({"error": "Call result timeout", "call_sid": call.twilio_sid}, status=408)
    return JsonResponse(_make_call_result(call))


# --- Calls API ---


class CallOutputSerializer(serializers.ModelSerializer):
    call_sid = serializers.CharField(source="twilio_sid", read_only=True)
    contact_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Call
        fields = [
            "call_sid", "status", "phone_number", "contact_id", "created_at", "answered_at", "ended_at",
            "duration", "end_reason", "answered_by", "error", "stream_sid", "live_transcript",
        ]
        read_only_fields = fields


class _CallErrorsMixin:
    """Maps the calls domain errors to `{"detail"}` JSON for every API view below."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, CallRefused):
            return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, TwilioNotConfigured):
            return Response({"detail": exc.message}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if isinstance(exc, TwilioError):
            return Response({"detail": exc.message, "code": exc.code}, status=_twilio_error_status(exc))
        if isinstance(exc, CallError):
            return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)


class CallPlaceApi(_CallErrorsMixin, APIView):
    """Start a call and answer at once (202); follow it with GET /api/calls/{sid}/."""

    class InputSerializer(serializers.Serializer):
        phone_number = serializers.CharField(required=False)
        contact_id = serializers.IntegerField(required=False)

        def validate(self, attrs: dict) -> dict:
            if not attrs.get("phone_number") and not attrs.get("contact_id"):
                raise serializers.ValidationError("Give phone_number or contact_id.")
            return attrs

    @extend_schema(request=InputSerializer, responses={202: CallOutputSerializer}, summary="Start a call")
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            return Response({"detail": _first_error(serializer.errors)}, status=status.HTTP_400_BAD_REQUEST)
        data = serializer.validated_data
        contact = get_object_or_404(Contact, pk=data["contact_id"]) if data.get("contact_id") else None
        call = services.place_call(contact=contact, phone_number=data.get("phone_number"))
        return Response(CallOutputSerializer(call).data, status=status.HTTP_202_ACCEPTED)


class CallDetailApi(_CallErrorsMixin, APIView):
    @extend_schema(responses=CallOutputSerializer, summary="A call's current state")
    def get(self, request: Request, sid: str) -> Response:
        return Response(CallOutputSerializer(get_object_or_404(Call, twilio_sid=sid)).data)


class CallHangupApi(_CallErrorsMixin, APIView):
    @extend_schema(request=None, responses={202: CallOutputSerializer}, summary="Hang up a live call")
    def post(self, request: Request, sid: str) -> Response:
        call = services.call_hang_up(call=get_object_or_404(Call, twilio_sid=sid))
        return Response(CallOutputSerializer(call).data, status=status.HTTP_202_ACCEPTED)


def _first_error(errors: dict) -> str:
    for field, messages in errors.items():
        message = messages[0] if isinstance(messages, list) else str(messages)
        return str(message) if field == "non_field_errors" else f"{field}: {message}"
    return "Invalid request."
