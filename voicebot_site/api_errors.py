"""The API door's one mapping from domain errors to `{"detail": ...}` JSON (the prototype's error shape).

Views let domain exceptions propagate; this handler, set as DRF's EXCEPTION_HANDLER, turns the ones a person can
fix into a 4xx with a readable `detail`. Anything else is left to DRF (and a real bug stays a 500).
"""
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from calls.selectors import InvalidCallFilter
from contacts.phones import InvalidPhoneNumber


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, InvalidPhoneNumber):
        return Response({"detail": f"Invalid phone number {exc.value!s}: {exc.reason}."}, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidCallFilter):
        return Response({"detail": str(exc)}, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ValidationError):
        return Response({"detail": " ".join(exc.messages)}, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "Not found."}, status.HTTP_404_NOT_FOUND)
    return exception_handler(exc, context)
