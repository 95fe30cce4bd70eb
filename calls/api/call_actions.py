"""`/api/calls/`: start a call without waiting, read its state, hang it up.

Domain errors (a refused number, Twilio's refusal) propagate to voicebot_site.api_errors, which answers
`{"detail": ...}`.
"""
from django.contrib.admin.models import ADDITION
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import services
from calls.api.serializers import CallOutputSerializer
from calls.models import Call
from contacts.models import Contact
from voicebot_site.admin_history import history_record


class CallPlaceApi(APIView):
    """Start a call and answer at once (202); follow it with GET /api/calls/{sid}/."""

    required_permissions = {"POST": ("calls.place_call",)}

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
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contact = get_object_or_404(Contact, pk=data["contact_id"]) if data.get("contact_id") else None
        call = services.place_call(contact=contact, phone_number=data.get("phone_number"))
        history_record(user=request.user, objects=[call], flag=ADDITION, message="Placed through the API.")
        return Response(CallOutputSerializer(call).data, status=status.HTTP_202_ACCEPTED)


class CallDetailApi(APIView):
    required_permissions = {"GET": ("calls.view_call",)}

    @extend_schema(responses=CallOutputSerializer, summary="A call's current state")
    def get(self, request: Request, sid: str) -> Response:
        return Response(CallOutputSerializer(get_object_or_404(Call, twilio_sid=sid)).data)


class CallHangupApi(APIView):
    required_permissions = {"POST": ("calls.hangup_call",)}

    @extend_schema(request=None, responses={202: CallOutputSerializer}, summary="Hang up a live call")
    def post(self, request: Request, sid: str) -> Response:
        call = services.call_hang_up(call=get_object_or_404(Call, twilio_sid=sid))
        history_record(user=request.user, objects=[call], message="Hung up through the API.")
        return Response(CallOutputSerializer(call).data, status=status.HTTP_202_ACCEPTED)

