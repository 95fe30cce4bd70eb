"""Phone number normalisation: the one set of rules every door (admin, API, import, command) uses.

The prototype's rules first (spaces, dashes, dots and parentheses removed; a leading `00` becomes `+`; a number
without a country code gets DEFAULT_PHONE_REGION), then `phonenumbers` decides whether the number is valid.
`Contact.phone_number` is django-phonenumber-field's PhoneNumberField (stored as E.164); its form field here and
the API's serializer field (contacts.serializers) both run these rules, so a number typed in the admin, posted to
the API or read from a spreadsheet is judged, and refused, in the same words.
"""
import re

import phonenumbers
from django import forms
from django.conf import settings
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from phonenumber_field import formfields
from phonenumber_field.phonenumber import PhoneNumber

_SEPARATORS = re.compile(r"[\s\-().\u00a0\u2010-\u2015/]")
_FLOAT_CELL = re.compile(r"^\+?\d+\.0+$")
# Kept in English (logs, the API's error text); InvalidPhoneNumber.reason_text gives them in the active language.
_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: gettext_noop("unknown country code"),
    phonenumbers.ValidationResult.TOO_SHORT: gettext_noop("too short"),
    phonenumbers.ValidationResult.TOO_LONG: gettext_noop("too long"),
    phonenumbers.ValidationResult.INVALID_LENGTH: gettext_noop("wrong number of digits"),
}
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: gettext_noop("unknown country code"),
    phonenumbers.NumberParseException.NOT_A_NUMBER: gettext_noop("not a phone number"),
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: gettext_noop("too short"),
    phonenumbers.NumberParseException.TOO_SHORT_NSN: gettext_noop("too short"),
    phonenumbers.NumberParseException.TOO_LONG: gettext_noop("too long"),
}
PHONE_MISSING = gettext_lazy("The phone number is missing.")


class InvalidPhoneNumber(ValueError):
    """The input is not a phone number we can call; `reason` says why in words a person understands."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r} is not a valid phone number: {reason}")

    @property
    def reason_text(self) -> str:
        """`reason` in the active language (`reason` itself stays English, for logs)."""
        return gettext(self.reason)

    @property
    def message(self) -> str:
        """The sentence staff and API clients read, in the active language."""
        if self.reason == "empty":
            return str(PHONE_MISSING)
        return gettext("'%(number)s' is not a valid phone number: %(reason)s.") % {
            "number": as_typed(self.value), "reason": self.reason_text}


def normalize_phone(value: object, *, region: str | None = None) -> str:
    """Return `value` as an E.164 string (`+34600123456`) or raise InvalidPhoneNumber."""
    return phonenumbers.format_number(_parse(value, region), phonenumbers.PhoneNumberFormat.E164)


def to_phone_number(value: object, *, region: str | None = None) -> PhoneNumber:
    """`value` as the PhoneNumber that Contact.phone_number holds, or raise InvalidPhoneNumber."""
    number = PhoneNumber()
    number.merge_from(_parse(value, region))
    return number


def parse_phone(value: object, *, region: str | None = None) -> phonenumbers.PhoneNumber:
    """`value` parsed by our rules, for questions beyond its E.164 form; raises InvalidPhoneNumber."""
    return _parse(value, region)


# Numbers that bill the caller extra (or the business, for a bot that dials thousands): never ours to call.
COSTLY_NUMBER_TYPES = frozenset({phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST})


def is_costly_number(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.number_type(number) in COSTLY_NUMBER_TYPES


def is_allowed_country(number: phonenumbers.PhoneNumber) -> bool:
    """Whether ALLOWED_CALL_COUNTRIES lets us call this number's country (`*` lets us call any)."""
    allowed = settings.ALLOWED_CALL_COUNTRIES
    return "*" in allowed or phonenumbers.region_code_for_number(number) in allowed


def as_typed(value: object) -> str:
    """A cell or field as staff typed it, for messages (spreadsheet floats shown without `.0`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


class PhoneNumberFormField(formfields.PhoneNumberField):
    """django-phonenumber-field's form field, with our rules and reasons instead of its generic message."""

    def to_python(self, value: object) -> PhoneNumber | str:
        if value in self.empty_values:
            return self.empty_value
        try:
            return to_phone_number(value)
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(exc.message, code="invalid") from None


def _parse(value: object, region: str | None) -> phonenumbers.PhoneNumber:
    text = _cell_text(value)
    if not text:
        raise InvalidPhoneNumber(value, "empty")
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+?\d+", text):
        raise InvalidPhoneNumber(
            value, gettext_noop("only digits, spaces, dashes, parentheses and a leading + are allowed"))
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, gettext_noop("not a phone number"))
        raise InvalidPhoneNumber(value, reason) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _REASONS:
        raise InvalidPhoneNumber(value, _REASONS[possible])
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(value, gettext_noop("not an assigned number range for its country"))
    return number


def _cell_text(value: object) -> str:
    """Spreadsheets hand numbers over as floats or ints; `34600123456.0` means `34600123456`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    if _FLOAT_CELL.match(text):
        text = text.split(".", 1)[0]
    return text
