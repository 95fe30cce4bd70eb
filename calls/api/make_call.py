"""`POST /make_call`: the prototype's blocking call, answered only when the call has ended.

It waits on the Channels layer, so a waiter on one process wakes on a status callback that lands on another. A
waiter holds no database connection (its database steps run on the waiters' few threads, which close theirs), and a
process keeps at most MAKE_CALL_MAX_WAITERS of them: beyond that the answer is 503 at once, before any call is placed.
"""
import json
import math

from django.conf import settings
from django.contrib.admin.models import ADDITION
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import APIException, NotAuthenticated, AuthenticationFailed
from rest_framework.views import APIView

from calls import services
from calls.exceptions import CallError, CallWaitTimeout
from calls.models import Call
from voicebot_site.admin_history import history_record
from voicebot_site.api_errors import make_call_error_response


class _PlaceCallGate(APIView):
    """DRF's own authentication, permission and throttle checks, for a plain async Django view."""

    required_permissions = {"POST": ("calls.place_call",)}

    def authorize(self, request: HttpRequest) -> JsonResponse | None:
        self.args, self.kwargs, self.headers = (), {}, {}
        drf_request = self.initialize_request(request)
        self.request = drf_request
        try:
            self.initial(drf_request)
        except APIException as exc:
            response = JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)
            if getattr(exc, "wait", None):  # Throttled: DRF's own views say when to retry, so this one does too
                response["Retry-After"] = str(math.ceil(exc.wait))
            if isinstance(exc, (NotAuthenticated, AuthenticationFailed)):
                challenge = self.get_authenticate_header(drf_request)
                if challenge:
                    response["WWW-Authenticate"] = challenge
                else:
                    response.status_code = status.HTTP_403_FORBIDDEN
            return response
        return None


def _make_call_result(call: Call) -> dict:
    return {
        "call_sid": call.twilio_sid,
        "phone_number": call.phone_number,
        "call_status": call.status,
        "stream_sid": call.stream_sid or None,
        "call_duration": call.duration,
        "audio_file_name": call.recording.name or None,
    }


class _Waiters:
    """How many /make_call requests this process holds now (one event loop per process: no lock needed)."""

    count = 0


@csrf_exempt
async def make_call(request: HttpRequest) -> JsonResponse:
    """Place a call and answer only when it has ended (or MAKE_CALL_TIMEOUT passed), as the prototype did."""
    if request.method != "POST":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    gate = _PlaceCallGate()
    denied = await services.waiter_db_run(gate.authorize, request)
    if denied is not None:
        return denied
    try:
        phone_number = json.loads(request.body or b"{}").get("phone_number")
    except (ValueError, AttributeError):
        return JsonResponse({"detail": "The body must be JSON: {\"phone_number\": \"...\"}."}, status=400)
    if _Waiters.count >= settings.MAKE_CALL_MAX_WAITERS:
        return _too_many_waiters()
    _Waiters.count += 1
    try:
        return await _place_and_wait(phone_number, user=gate.request.user)
    finally:
        _Waiters.count -= 1


async def _place_and_wait(phone_number: object, *, user: object) -> JsonResponse:
    try:
        call = await services.waiter_db_run(services.place_call, phone_number=phone_number)
    except CallError as exc:
        return make_call_error_response(exc)
    try:
        call = await services.call_wait_final(call=call, timeout=settings.MAKE_CALL_TIMEOUT)
    except CallWaitTimeout as exc:
        return make_call_error_response(exc, call_sid=call.twilio_sid)
    finally:
        # Written once the wait is over, whatever ended it: a write while Twilio's first callbacks arrive would
        # compete with them for the database.
        await services.waiter_db_run(history_record, user=user, objects=[call], flag=ADDITION,
                                     message="Placed through POST /make_call.")
    return JsonResponse(_make_call_result(call))


def _too_many_waiters() -> JsonResponse:
    message = (
        f"This server already has {settings.MAKE_CALL_MAX_WAITERS} /make_call requests waiting for their calls "
        "(MAKE_CALL_MAX_WAITERS); no call was placed. Try again later, or place calls with POST /api/calls/ and "
        "follow them with GET /api/calls/<sid>/."
    )
    response = JsonResponse({"error": message}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = "30"
    return response
