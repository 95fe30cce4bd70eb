"""The JSON shapes of /api/campaigns/."""
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign, CampaignContact
from campaigns.rules import contact_zone_clean
from campaigns.services import MAX_CONTACTS, campaign_progress

RULE_FIELDS = ["profile", "starts_at", "ends_at", "window", "time_zone", "max_in_flight", "calls_per_second",
               "retry_delays", "max_attempts", "success_rule", "required_fields"]


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "state", *RULE_FIELDS, "created_at", "started_at", "finished_at"]
        read_only_fields = ["id", "state", "created_at", "started_at", "finished_at"]


class CampaignCreateSerializer(CampaignSerializer):
    """A draft campaign with its contacts, by id or by phone number (new numbers become contacts); the rules not
    given take their defaults."""

    contact_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1, max_length=MAX_CONTACTS,
        write_only=True, required=False)
    phone_numbers = serializers.ListField(
        child=serializers.CharField(max_length=40), min_length=1, max_length=MAX_CONTACTS, write_only=True,
        required=False, help_text="Any usual format; a number not yet a contact becomes one.")

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "contact_ids", "phone_numbers"]

    def validate(self, attrs: dict) -> dict:
        if ("contact_ids" in attrs) == ("phone_numbers" in attrs):
            raise serializers.ValidationError("Give contact_ids or phone_numbers (one of them).")
        return super().validate(attrs)


class CampaignContactSerializer(serializers.ModelSerializer):
    """One contact's run in a campaign; only its own time zone (`time_zone`, blank: the number's) is writable."""

    phone_number = serializers.CharField(source="contact.phone_number", read_only=True)
    name = serializers.CharField(source="contact.name", read_only=True)
    time_zone = serializers.CharField(max_length=64, allow_blank=True, help_text=(
        "The contact's own IANA time zone (e.g. Atlantic/Canary), overriding its number's; blank: the number's."))

    class Meta:
        model = CampaignContact
        fields = ["contact", "phone_number", "name", "time_zone", "zones", "state", "attempts", "next_attempt_at",
                  "callback_at", "last_result", "outcome", "reason"]
        read_only_fields = [name for name in fields if name != "time_zone"]

    def validate_time_zone(self, value: str) -> str:
        try:
            return contact_zone_clean(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    by_state = serializers.DictField(child=serializers.IntegerField())
    by_outcome = serializers.DictField(child=serializers.IntegerField())
    in_flight = serializers.IntegerField()
    attempts = serializers.IntegerField()
    calls = serializers.IntegerField()
    answered = serializers.IntegerField()
    answer_rate = serializers.FloatField(allow_null=True)
    next_due = serializers.DateTimeField(allow_null=True)
    estimated_finish = serializers.DateTimeField(allow_null=True)


class CampaignDetailSerializer(CampaignSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "progress"]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, campaign: Campaign) -> dict:
        return ProgressSerializer(campaign_progress(campaign=campaign).as_dict()).data
