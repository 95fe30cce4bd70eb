"""`/api/calls/`: start a call without waiting, read its state, hang it up."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import services
from calls.api.make_call import _twilio_error_status
from calls.exceptions import CallError, CallRefused, TwilioError, TwilioNotConfigured
from calls.api.serializers import CallOutputSerializer
from calls.models import Call
from contacts.models import Contact


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
