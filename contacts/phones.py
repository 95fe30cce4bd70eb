"""Phone number normalisation: the one function every door (admin, API, import, command) uses.

The prototype's rules first (spaces, dashes, dots and parentheses removed; a leading `00` becomes `+`; a number
without a country code gets DEFAULT_PHONE_REGION), then `phonenumbers` decides whether the number is valid.
"""
import re

import phonenumbers
from django.conf import settings

_SEPARATORS = re.compile(r"[\s\-().\u00a0\u2010-\u2015/]")
_FLOAT_CELL = re.compile(r"^\+?\d+\.0+$")
_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong number of digits",
}
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


class InvalidPhoneNumber(ValueError):
    """The input is not a phone number we can call; `reason` says why in words a person understands."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r} is not a valid phone number: {reason}")


def normalize_phone(value: object, *, region: str | None = None) -> str:
    """Return `value` as an E.164 string (`+34600123456`) or raise InvalidPhoneNumber."""
    text = _cell_text(value)
    if not text:
        raise InvalidPhoneNumber(value, "empty")
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+?\d+", text):
        raise InvalidPhoneNumber(value, "only digits, spaces, dashes, parentheses and a leading + are allowed")
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(value, _PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _REASONS:
        raise InvalidPhoneNumber(value, _REASONS[possible])
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(value, "not an assigned number range for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
