"""The JSON shapes of the calls API: the prototype's call record, the /api/calls/ state, the history export body."""
from rest_framework import serializers

from calls.models import Call, CallMeasures, CallStatus
from calls.selectors import INCLUDE_TEST_HELP


def _cost_field() -> serializers.DecimalField:
    return serializers.DecimalField(source="cost_total", max_digits=12, decimal_places=6, read_only=True,
                                    allow_null=True, help_text="What the call cost so far (null: nothing priced yet).")


class CallRecordSerializer(serializers.ModelSerializer):
    """`{timestamp, call_sid, call_status, call_duration, audio_file_name, extracted_info, conversation, ...}`."""

    timestamp = serializers.DateTimeField(source="created_at", read_only=True)
    call_sid = serializers.CharField(source="twilio_sid", read_only=True)
    call_status = serializers.CharField(source="status", read_only=True)
    call_duration = serializers.FloatField(source="duration", read_only=True)
    audio_file_name = serializers.SerializerMethodField()
    extracted_info = serializers.JSONField(source="extracted_data", read_only=True)
    phone_number = serializers.CharField(read_only=True)
    cost = _cost_field()
    cost_breakdown = serializers.JSONField(source="cost", read_only=True,
                                           help_text="Each priced part (realtime, transcription, extraction, "
                                                     "twilio) with what was counted and its amount.")

    class Meta:
        model = Call
        fields = [
            "timestamp", "call_sid", "call_status", "call_duration", "audio_file_name", "extracted_info",
            "conversation", "extraction_error", "phone_number", "end_reason", "answered_by", "stream_sid",
            "cost", "cost_breakdown",
        ]
        read_only_fields = fields

    def get_audio_file_name(self, call: Call) -> str | None:
        return call.recording.name or None


class CallHistoryRecordSerializer(CallRecordSerializer):
    """A call record with its contact's number (the prototype nested records under the user)."""

    phone_number = serializers.CharField(source="contact.phone_number", read_only=True)


class CallHistoryExportRequestSerializer(serializers.Serializer):
    """Documents the export body: the rows to export (by `call_sid`) or the list filters."""

    calls = serializers.ListField(child=serializers.DictField(), required=False)
    start_date = serializers.CharField(required=False)
    end_date = serializers.CharField(required=False)
    phone_number = serializers.CharField(required=False)
    call_status = serializers.ChoiceField(choices=CallStatus.choices, required=False)
    extracted_info_keyword = serializers.CharField(required=False)
    include_test = serializers.BooleanField(required=False, help_text=INCLUDE_TEST_HELP)


class MakeCallResponseSerializer(serializers.Serializer):
    """Documents the body of `/api/users/{phone_number}/calls`: a `/make_call` answer; only `call_sid` is read."""

    call_sid = serializers.CharField()
    phone_number = serializers.CharField(required=False)
    call_status = serializers.CharField(required=False)
    stream_sid = serializers.CharField(required=False)
    call_duration = serializers.FloatField(required=False, allow_null=True)
    audio_file_name = serializers.CharField(required=False, allow_null=True)


class CallOutputSerializer(serializers.ModelSerializer):
    call_sid = serializers.CharField(source="twilio_sid", read_only=True)
    contact_id = serializers.IntegerField(read_only=True)
    cost = _cost_field()
    first_words_ms = serializers.SerializerMethodField(
        help_text="Milliseconds from the stream's start to the bot's first audio sent to Twilio (null until measured).")

    class Meta:
        model = Call
        fields = [
            "call_sid", "status", "phone_number", "contact_id", "created_at", "answered_at", "ended_at",
            "duration", "end_reason", "answered_by", "error", "stream_sid", "live_transcript", "transfer", "cost",
            "first_words_ms",
        ]
        read_only_fields = fields

    def get_first_words_ms(self, call: Call) -> int | None:
        value = CallMeasures.from_stored(call.metrics).values.get("first_words_ms")
        return value if isinstance(value, int) and not isinstance(value, bool) else None
