"""The calls list's filters that the dashboard links to, and the conditions they share with its figures.

A figure on the dashboard counts the calls of a condition defined here; its link opens the calls list filtered by
the same condition, so the list always shows exactly the calls the figure counted.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from calls.review.display import extracted_titles


@dataclass(frozen=True)
class TalkBucket:
    key: str
    label: str
    low: int
    high: int | None  # seconds; None: no upper bound

    @property
    def q(self) -> Q:
        q = Q(answered_at__isnull=False, duration__gte=self.low)
        return q & Q(duration__lt=self.high) if self.high is not None else q


TALK_BUCKETS = (
    TalkBucket("0-30", _("under 30 s"), 0, 30), TalkBucket("30-60", _("30 s to 1 min"), 30, 60),
    TalkBucket("60-120", _("1 to 2 min"), 60, 120), TalkBucket("120-300", _("2 to 5 min"), 120, 300),
    TalkBucket("300-", _("5 min or more"), 300, None),
)
ANSWERED = Q(answered_at__isnull=False)
EXTRACTED = ~Q(extracted_data={})


def filled_q(field: str) -> Q:
    """Calls whose extraction found a value for `field` (strict extraction writes every key, null when not said)."""
    return (Q(**{f"extracted_data__{field}__isnull": False}) & ~Q(**{f"extracted_data__{field}": None})
            & ~Q(**{f"extracted_data__{field}": ""}))


class AnsweredFilter(admin.SimpleListFilter):
    title = _("answered")
    parameter_name = "answered"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", _("Answered")), ("no", _("Not answered"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(ANSWERED)
        return queryset.exclude(ANSWERED) if self.value() == "no" else queryset


class TalkTimeFilter(admin.SimpleListFilter):
    title = _("talk time")
    parameter_name = "talk"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(bucket.key, bucket.label) for bucket in TALK_BUCKETS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        bucket = next((bucket for bucket in TALK_BUCKETS if bucket.key == self.value()), None)
        return queryset.filter(bucket.q) if bucket else queryset


class FilledFieldFilter(admin.SimpleListFilter):
    title = _("extracted field found")
    parameter_name = "filled"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(extracted_titles().items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(filled_q(self.value())) if self.value() in extracted_titles() else queryset


class ProcessingFilter(admin.SimpleListFilter):
    """Calls by the state of their transcription and extraction (Call.processing's status)."""

    title = _("processing")
    parameter_name = "processing"
    NOT_PROCESSED = "none"
    STATES = ("failed", "done", "queued", "running")

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("failed", _("Processing failed")), ("done", _("Processed")), ("queued", _("Waiting to be processed")),
                ("running", _("Being processed")), (self.NOT_PROCESSED, _("Not processed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == self.NOT_PROCESSED:  # no status at all, or none of the four
            return queryset.filter(~Q(processing__has_key="status") | ~Q(processing__status__in=self.STATES))
        if self.value() in self.STATES:
            return queryset.filter(processing__status=self.value())
        return queryset
