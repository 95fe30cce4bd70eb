"""The prototype's "call record" JSON, shared by /api/users (call_history) and /api/call_histories."""
from rest_framework import serializers

from calls.models import Call


class CallRecordSerializer(serializers.ModelSerializer):
    """`{timestamp, call_sid, call_status, call_duration, audio_file_name, extracted_info, conversation, ...}`."""

    timestamp = serializers.DateTimeField(source="created_at", read_only=True)
    call_sid = serializers.CharField(source="twilio_sid", read_only=True)
    call_status = serializers.CharField(source="status", read_only=True)
    call_duration = serializers.FloatField(source="duration", read_only=True)
    audio_file_name = serializers.SerializerMethodField()
    extracted_info = serializers.JSONField(source="extracted_data", read_only=True)
    phone_number = serializers.CharField(read_only=True)

    class Meta:
        model = Call
        fields = [
            "timestamp", "call_sid", "call_status", "call_duration", "audio_file_name", "extracted_info",
            "conversation", "extraction_error", "phone_number", "end_reason", "answered_by", "stream_sid",
        ]
        read_only_fields = fields

    def get_audio_file_name(self, call: Call) -> str | None:
        return call.recording.name or None
