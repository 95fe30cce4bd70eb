"""Fuzzing phone normalisation: whatever a person or a spreadsheet hands over, `normalize_phone` answers an E.164
number or InvalidPhoneNumber, never anything else; its answer is a fixed point; and the ways people write one number
(spaces, dashes, dots, brackets, `00`, national or international form) all give the same answer.

Hypothesis runs derandomized with a bounded number of examples and no example database, so CI sees the same
inputs every run.
"""
import re

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.phones import InvalidPhoneNumber, normalize_phone

FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
SEPARATORS = [" ", "-", ".", "(", ")", "/", "\u00a0", "\u2013", "  "]

# Text that looks like a number more often than random unicode does, so the deep paths are reached too.
phone_like_text = st.text(alphabet=st.sampled_from("0123456789+ -().#*x/\u00a0\u2013٣"), max_size=24)
cell_values = st.one_of(
    st.text(max_size=40), phone_like_text, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.none(), st.booleans(), st.binary(max_size=20), st.decimals(allow_nan=False),
)
regions = st.one_of(st.none(), st.sampled_from(REGIONS), st.text(max_size=3))


def _normalized_or_none(value, region=None) -> str | None:
    try:
        return normalize_phone(value, region=region)
    except InvalidPhoneNumber:
        return None


@st.composite
def valid_numbers(draw) -> phonenumbers.PhoneNumber:
    region = draw(st.sampled_from(REGIONS))
    number = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    if number is None or not phonenumbers.is_valid_number(number):
        number = phonenumbers.example_number_for_type("ES", phonenumbers.PhoneNumberType.MOBILE)
    return number


@given(value=cell_values, region=regions)
@FUZZ
def test_it_raises_nothing_but_invalid_phone_number(value, region):
    result = _normalized_or_none(value, region)
    if result is not None:
        assert E164.match(result), result
        assert phonenumbers.is_valid_number(phonenumbers.parse(result))


@given(value=st.one_of(phone_like_text, st.integers(min_value=0, max_value=10**16)))
@FUZZ
def test_a_normalised_number_normalises_to_itself(value):
    first = _normalized_or_none(value)
    if first is not None:
        assert normalize_phone(first) == first
        # The region a number was read with no longer matters once it carries its country code.
        assert normalize_phone(first, region="US") == first


@given(number=valid_numbers(), data=st.data())
@FUZZ
def test_every_way_of_writing_a_valid_number_gives_the_same_answer(number, data):
    region = phonenumbers.region_code_for_number(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = e164[1:]
    spaced = "".join(digit + data.draw(st.sampled_from(["", *SEPARATORS])) for digit in digits).strip()
    variants = [
        e164,
        "00" + digits,
        "+" + spaced,
        f"  {e164}\t",
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.RFC3966).removeprefix("tel:"),
    ]
    for variant in variants:
        assert normalize_phone(variant, region=data.draw(regions)) == e164, variant
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert normalize_phone(national, region=region) == e164, national


@given(number=valid_numbers())
@FUZZ
def test_a_spreadsheet_float_of_a_full_number_reads_like_its_digits(number):
    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    assert _normalized_or_none(float(digits)) == _normalized_or_none(digits)
    assert _normalized_or_none(int(digits)) == _normalized_or_none(digits)
