"""The prototype's "user" JSON and the request/response shapes of /api/users..., for the API and its schema."""
from drf_spectacular.utils import extend_schema_field
from phonenumber_field import serializerfields
from phonenumber_field.phonenumber import PhoneNumber
from rest_framework import serializers

from calls.api.serializers import CallRecordSerializer
from contacts.attributes import MAX_ATTRIBUTES, MAX_KEY_LENGTH, MAX_VALUE_LENGTH, AttributesInvalid, attributes_clean
from contacts.models import Contact
from contacts.phones import PHONE_MISSING, InvalidPhoneNumber, to_phone_number


class PhoneNumberSerializerField(serializerfields.PhoneNumberField):
    """django-phonenumber-field's serializer field, judging numbers by our rules (contacts.phones) and giving
    their reason; its answer is the E.164 string, as the prototype's was."""

    def to_internal_value(self, data: object) -> PhoneNumber:
        try:
            return to_phone_number(data)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from None


@extend_schema_field({
    "type": "object", "maxProperties": MAX_ATTRIBUTES,
    "propertyNames": {"minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "Names: letters, digits, spaces, '_', '-' and '.', starting with a letter or digit.",
    "additionalProperties": {"oneOf": [{"type": "string", "maxLength": MAX_VALUE_LENGTH}, {"type": "number"}]},
    "example": {"Ciudad": "Madrid", "Presupuesto": 900},
})
class AttributesField(serializers.JSONField):
    """Contact.attributes: name -> text or number, by contacts.attributes' rules (their message when broken)."""

    def to_internal_value(self, data: object) -> dict:
        try:
            return attributes_clean(super().to_internal_value(data))
        except AttributesInvalid as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None


ATTRIBUTES_HELP = ("Free-form facts about the person (a spreadsheet's extra columns), used by the prompts as "
                   "{{contact.attributes.<name>}}.")


class ContactSerializer(serializers.ModelSerializer):
    """`{phone_number, name, comments, attributes, created_at, updated_at, last_called_at, call_history,
    do_not_call}`.

    `call_history` reads the `calls` relation: prefetch it (newest first) when serialising many contacts.
    """

    phone_number = PhoneNumberSerializerField(
        read_only=True, help_text=Contact._meta.get_field("phone_number").help_text
    )
    call_history = CallRecordSerializer(source="calls", many=True, read_only=True)
    attributes = AttributesField(read_only=True, help_text=ATTRIBUTES_HELP)

    class Meta:
        model = Contact
        fields = [
            "phone_number", "name", "comments", "attributes", "created_at", "updated_at", "last_called_at", "call_history",
            "do_not_call",
        ]
        read_only_fields = fields


class ContactCreateSerializer(serializers.Serializer):
    """POST /api/users. The number is judged by contacts.phones' rules, which give the reason it is refused."""

    phone_number = PhoneNumberSerializerField(
        help_text="Any format: 600 123 456, 0034600123456, +34600123456.",
        error_messages={"blank": PHONE_MISSING},
    )
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="")
    comments = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="")
    attributes = AttributesField(required=False, default=dict, help_text=ATTRIBUTES_HELP)
    do_not_call = serializers.BooleanField(required=False, default=False)


class ContactUpdateSerializer(serializers.Serializer):
    """PUT /api/users/{phone_number}: any of these keys; every other key (phone_number too) is ignored."""

    name = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    comments = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    attributes = AttributesField(required=False, help_text=ATTRIBUTES_HELP + " Replaces them all; {} clears them.")
    do_not_call = serializers.BooleanField(required=False)


class ContactImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=".xlsx, .xls, .csv (column 1 phone, column 2 optional name; with a title row, "
                                 "further titled columns become attributes named by their titles) or .txt.")


class FailedRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Row number in the file (for .txt, the position in the list).")
    input = serializers.CharField(help_text="The cell as it was in the file.")
    error = serializers.CharField(help_text="Why the row was not imported.")


class ContactImportResultSerializer(serializers.Serializer):
    detail = serializers.CharField(required=False, help_text="Only with a 400: why nothing could be imported.")
    message = serializers.CharField()
    imported_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    imported_users = serializers.ListField(child=serializers.CharField(), help_text="E.164 numbers added.")
    failed_users = FailedRowSerializer(many=True)
    attribute_columns = serializers.ListField(
        child=serializers.CharField(), help_text="The titled columns after the name, imported as attributes.")


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
