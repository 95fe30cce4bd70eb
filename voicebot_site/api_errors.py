"""The API's one mapping from domain errors to HTTP answers, in the two shapes the API speaks.

Views let domain exceptions propagate. `error_status` says which status each one gets; the DRF views answer
`{"detail": ...}` through `api_exception_handler` (DRF's EXCEPTION_HANDLER), and the prototype's `POST /make_call`,
a plain async view, answers through `make_call_error_response` in the prototype's own shape: `{"error": ...}` when
Twilio or the wait failed, `{"detail": ...}` for a number we refuse to call. Errors a person cannot fix are left to
DRF (and a real bug stays a 500).
"""
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from calls.exceptions import CallError, CallRefused, CallWaitTimeout, TwilioError, TwilioNotConfigured
from calls.selectors import InvalidCallFilter
from contacts.phones import InvalidPhoneNumber
from contacts.services import ContactError

_BAD_REQUEST = (
    CallRefused, ContactError, InvalidPhoneNumber, InvalidCallFilter, ValidationError, drf_exceptions.ValidationError,
)
MAKE_CALL_TIMEOUT_MESSAGE = "Call result timeout"  # the prototype's words


def error_status(exc: Exception) -> int | None:
    """The HTTP status of a domain error; None for anything else."""
    if isinstance(exc, TwilioNotConfigured):
        return status.HTTP_503_SERVICE_UNAVAILABLE
    if isinstance(exc, TwilioError):
        return _twilio_error_status(exc)
    if isinstance(exc, CallWaitTimeout):
        return status.HTTP_408_REQUEST_TIMEOUT
    if isinstance(exc, (*_BAD_REQUEST, CallError)):
        return status.HTTP_400_BAD_REQUEST
    if isinstance(exc, ObjectDoesNotExist):
        return status.HTTP_404_NOT_FOUND
    return None


def _twilio_error_status(exc: TwilioError) -> int:
    """A number Twilio will never call is the caller's problem (400); anything else is Twilio's or our setup's."""
    if exc.permanent and exc.status and 400 <= exc.status < 500 and not exc.is_auth_failure:
        return status.HTTP_400_BAD_REQUEST
    return status.HTTP_502_BAD_GATEWAY


def error_message(exc: Exception) -> str:
    """A domain error in words the API's caller can act on."""
    if isinstance(exc, CallError):
        return exc.message
    if isinstance(exc, InvalidPhoneNumber):
        return f"Invalid phone number {exc.value!s}: {exc.reason}."
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, drf_exceptions.ValidationError):
        return _flatten(exc.detail)
    if isinstance(exc, ObjectDoesNotExist):
        return "Not found."
    return str(exc)


def _flatten(detail: object, prefix: str = "") -> str:
    """`{"phone_number": ["This field is required."]}` -> `phone_number: This field is required.`"""
    if isinstance(detail, dict):
        return " ".join(_flatten(value, _field_prefix(key)) for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(value, prefix) for value in detail)
    return f"{prefix}{detail}"


def _field_prefix(key: object) -> str:
    return "" if key == api_settings.NON_FIELD_ERRORS_KEY else f"{key}: "


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: domain errors become `{"detail": ...}` (plus Twilio's `code`)."""
    code = error_status(exc)
    if code is None:
        return exception_handler(exc, context)
    body: dict[str, object] = {"detail": error_message(exc)}
    if isinstance(exc, TwilioError):
        body["code"] = exc.code
    return Response(body, status=code)


def make_call_error_response(exc: CallError, *, call_sid: str | None = None) -> JsonResponse:
    """`POST /make_call`'s answer to a domain error, in the prototype's shape."""
    code = error_status(exc)
    if isinstance(exc, CallRefused):
        return JsonResponse({"detail": exc.message}, status=code)
    if isinstance(exc, CallWaitTimeout):
        return JsonResponse({"error": MAKE_CALL_TIMEOUT_MESSAGE, "call_sid": call_sid}, status=code)
    return JsonResponse({"error": exc.message}, status=code)
