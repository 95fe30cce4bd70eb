"""The one phone-normalisation function every door uses: the prototype's rules, then phonenumbers."""
import pytest

from contacts.phones import InvalidPhoneNumber, normalize_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("600 123 456", "+34600123456"),
        ("600-123-456", "+34600123456"),
        ("(600) 123 456", "+34600123456"),
        ("0034600123456", "+34600123456"),
        ("+34600123456", "+34600123456"),
        ("+34 600 12 34 56", "+34600123456"),
        ("34600123456", "+34600123456"),
        ("34600123456.0", "+34600123456"),
        (34600123456.0, "+34600123456"),
        (600123456, "+34600123456"),
        ("912 345 678", "+34912345678"),
        ("+1 415 555 2671", "+14155552671"),
        ("001-415-555-2671", "+14155552671"),
        ("  +44 20 7946 0958 ", "+442079460958"),
    ],
)
def test_it_normalises_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


def test_it_uses_the_region_for_national_numbers(settings):
    settings.DEFAULT_PHONE_REGION = "GB"
    assert normalize_phone("020 7946 0958") == "+442079460958"
    assert normalize_phone("600123456", region="ES") == "+34600123456"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "empty"),
        (None, "empty"),
        ("   ", "empty"),
        ("abc", "only digits"),
        ("600 123 45x", "only digits"),
        ("123", "too short"),
        ("+34 600 123 456 789 012", "too long"),
        ("+999 123456789", "country code"),
        ("+34 000 000 000", "not an assigned number"),
    ],
)
def test_it_rejects_invalid_numbers_with_a_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone(raw)
    assert reason in info.value.reason
