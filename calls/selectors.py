"""Which calls the call history shows: the prototype's query filters as a django-filter FilterSet.

`/api/call_histories`, its export and the admin's search all narrow calls the same way, through this module.
Test calls (staff talking to the bot from the browser, Call.is_test) are no integrator's business: the API's lists
leave them out unless asked with `include_test=true` (INCLUDE_TEST_HELP).
"""
import datetime
import re

import django_filters
from django import forms
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from calls.models import Call, CallStatus
from contacts.phones import InvalidPhoneNumber, normalize_phone

DATE_FORMAT_HELP = "YYYY-MM-DD or an ISO-8601 date-time such as 2026-11-25T14:30:00+01:00"
_NON_DIGITS = re.compile(r"\D")
_SLASHED_DAY = re.compile(r"^\d{4}/\d{2}/\d{2}$")
# An unencoded `+01:00` offset in a query string arrives as ` 01:00`.
_PLUS_DECODED_AS_SPACE = re.compile(r"(?<=\d) (\d\d:?\d\d)$")
# Characters JSON writes verbatim: only for these keywords can the database narrow candidates by the JSON text.
_JSON_VERBATIM = re.compile(r"^[\x20-\x7e]+$")
INCLUDE_TEST_HELP = ("true to also list test calls (staff talking to the bot from the browser with Try this script); "
                     "they are left out by default.")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


class InvalidCallFilter(ValueError):
    """A call-history query the API cannot understand; the message says what is expected."""


class DayOrMomentField(forms.Field):
    """Parses `YYYY-MM-DD` to a `date` (a whole day) and an ISO-8601 date-time to an aware `datetime`."""

    def to_python(self, value: str | None) -> datetime.date | datetime.datetime | None:
        value = (value or "").strip()
        if not value:
            return None
        if _SLASHED_DAY.match(value):
            value = value.replace("/", "-")  # Quasar's date picker (the prototype's UI) defaults to YYYY/MM/DD
        try:
            if "T" not in value.upper() and " " not in value:
                return datetime.date.fromisoformat(value)
            if "T" in value.upper():
                value = _PLUS_DECODED_AS_SPACE.sub(r"+\1", value)
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise forms.ValidationError(f"Use {DATE_FORMAT_HELP}; got {value!r}.") from None
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class DayOrMomentFilter(django_filters.Filter):
    """A bound of the period: a date is a whole day, included at both ends (the prototype dropped the end day)."""

    field_class = DayOrMomentField

    def __init__(self, *args, bound: str, **kwargs) -> None:
        self.bound = bound
        super().__init__(*args, field_name="created_at", **kwargs)

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if value is None:
            return qs
        if isinstance(value, datetime.datetime):
            lookup = "gte" if self.bound == "start" else "lte"
            return qs.filter(**{f"created_at__{lookup}": value})
        start_of_day = timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))
        if self.bound == "start":
            return qs.filter(created_at__gte=start_of_day)
        return qs.filter(created_at__lt=start_of_day + datetime.timedelta(days=1))


class IncludeTestField(forms.Field):
    """`true`/`false` (also 1/0, yes/no, any case); anything else is an error rather than a silent default."""

    def to_python(self, value: str | None) -> bool:
        text = (value or "").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise forms.ValidationError(f"Use true or false; got {value!r}.")


class IncludeTestFilter(django_filters.Filter):
    """Leaves test calls out unless the value is true; applied on every query, the parameter given or not."""

    field_class = IncludeTestField

    def filter(self, qs: QuerySet, value: bool | None) -> QuerySet:
        return qs if value else without_test_calls(qs)


class CallHistoryFilter(django_filters.FilterSet):
    """The prototype's `/call_histories` query parameters."""

    start_date = DayOrMomentFilter(bound="start")
    end_date = DayOrMomentFilter(bound="end")
    phone_number = django_filters.CharFilter(method="filter_phone_number")
    call_status = django_filters.ChoiceFilter(field_name="status", choices=CallStatus.choices)
    extracted_info_keyword = django_filters.CharFilter(method="filter_extracted_info_keyword")
    include_test = IncludeTestFilter()

    class Meta:
        model = Call
        fields: list[str] = []

    def filter_phone_number(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return filter_phone_number(qs, value)

    def filter_extracted_info_keyword(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return filter_extracted_value(qs, value)


def call_history_list(params, *, queryset: QuerySet | None = None) -> QuerySet:
    """Calls matching the prototype's query parameters, newest first; InvalidCallFilter if a parameter is bad."""
    queryset = Call.objects.select_related("contact") if queryset is None else queryset
    filterset = CallHistoryFilter(params, queryset=queryset)
    if not filterset.is_valid():
        raise InvalidCallFilter(_errors_text(filterset.errors))
    return filterset.qs.order_by("-created_at", "-id")


def without_test_calls(qs: QuerySet) -> QuerySet:
    return qs.filter(is_test=False)


def include_test_calls(params) -> bool:
    """The `include_test` query parameter of a list that is not a call history (the contacts' call_history)."""
    field = IncludeTestField(required=False)
    try:
        return field.clean(params.get("include_test"))
    except forms.ValidationError as exc:
        raise InvalidCallFilter(f"include_test: {' '.join(exc.messages)}") from None


def call_history_by_sid(sids: list[str]) -> list[Call]:
    """The calls with these Twilio SIDs, in the order given (the rows as the user saw them); unknown SIDs skipped."""
    by_sid = {call.twilio_sid: call for call in Call.objects.select_related("contact").filter(twilio_sid__in=sids)}
    return [by_sid[sid] for sid in dict.fromkeys(sids) if sid in by_sid]


def filter_phone_number(qs: QuerySet, value: str) -> QuerySet:
    """Substring of the number, however it is typed: `600123456`, `600 12 34 56` and `0034600…` all match."""
    match = Q()
    for digits in _phone_digit_forms(value):
        match |= Q(contact__phone_number__contains=digits) | Q(phone_number__contains=digits)
    return qs.filter(match) if match else qs.none()


def filter_extracted_value(qs: QuerySet, keyword: str) -> QuerySet:
    """Calls with `keyword` inside any extracted value (not key), case-insensitive, on SQLite and PostgreSQL.

    The database narrows the candidates by the JSON text when it can; the final test runs in Python because
    SQLite stores non-ASCII text as `\\uXXXX` escapes, its LIKE folds only ASCII, and the text includes the keys.
    """
    needle = keyword.strip().casefold()
    if not needle:
        return qs
    candidates = qs.exclude(extracted_data={})
    if _JSON_VERBATIM.match(needle) and '"' not in needle and "\\" not in needle:
        candidates = candidates.annotate(_extracted_text=Cast("extracted_data", TextField()))
        candidates = candidates.filter(_extracted_text__icontains=needle)
    matching = [pk for pk, data in candidates.values_list("pk", "extracted_data") if _has_value(data, needle)]
    return qs.filter(pk__in=matching)


def _phone_digit_forms(value: str) -> set[str]:
    """The digits as typed (a fragment), plus the E.164 digits when the input is a whole number.

    The E.164 form catches a national trunk prefix (`07700 900123` is `+447700900123`), which no substring would.
    """
    digits = _NON_DIGITS.sub("", value)
    forms = {digits[2:] if value.strip().startswith("00") else digits}
    try:
        forms.add(normalize_phone(value)[1:])
    except InvalidPhoneNumber:
        pass
    return {form for form in forms if form}


def _has_value(data: object, needle: str) -> bool:
    if isinstance(data, dict):
        return any(_has_value(item, needle) for item in data.values())
    if isinstance(data, list):
        return any(_has_value(item, needle) for item in data)
    return data is not None and needle in str(data).casefold()


def _errors_text(errors: dict) -> str:
    return " ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
