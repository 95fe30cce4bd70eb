"""What the admin home's dashboard shows: how calling went today, in the last 7 and 30 days, all calls or one
campaign's, every figure aggregated in the database (a handful of queries over an indexed range of created_at,
whatever the number of calls) and linked to the calls list filtered to exactly the calls it counts.

    headline     calls placed, answer rate, average talk time and cost for each of the three periods (one query)
    outcomes     calls per final status; talk-time histogram; extraction fill rate per field (one query)
    per day      calls by day and status, cost by day (one query): the charts
    campaigns    placed, answered and cost per campaign (one query)
    in flight    calls dialling, ringing or talking now
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from calls.models import Call, CallStatus
from calls.pricing import price_table
from calls.review.display import extracted_titles
from calls.review.exports import format_duration
from calls.review.list_filters import ANSWERED, EXTRACTED, TALK_BUCKETS, filled_q

PERIODS = {"today": (_("Today"), 1), "7d": (_("Last 7 days"), 7), "30d": (_("Last 30 days"), 30)}
DEFAULT_PERIOD = "7d"
IN_FLIGHT = (CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    url: str


@dataclass
class Dashboard:
    period: str
    period_label: str
    start: datetime
    campaign_id: int | None
    headline: list[dict[str, Any]] = field(default_factory=list)  # one per period: {label, figures: [Figure]}
    outcomes: list[Figure] = field(default_factory=list)
    talk: list[Figure] = field(default_factory=list)
    talk_counts: list[int] = field(default_factory=list)
    fill: list[Figure] = field(default_factory=list)
    days: list[dict[str, Any]] = field(default_factory=list)  # {day, url, counts: {status: n}, cost: Decimal}
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    in_flight: Figure | None = None


def period_start(period: str, now: datetime | None = None) -> datetime:
    """Local midnight of the first day of the period (today counts as one day)."""
    today = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=PERIODS[period][1] - 1)


def calls_url(**params: object) -> str:
    """The calls list filtered by `params` (created_at__gte as the list's own date filter writes it)."""
    query = {key: str(value) for key, value in params.items() if value is not None}
    return reverse("admin:calls_call_changelist") + ("?" + urlencode(query) if query else "")


def dashboard_build(*, period: str, campaign_id: int | None, now: datetime | None = None) -> Dashboard:
    """Read every figure of the dashboard for `period` (a PERIODS key) and optionally one campaign."""
    period = period if period in PERIODS else DEFAULT_PERIOD
    start = period_start(period, now)
    board = Dashboard(period=period, period_label=PERIODS[period][0], start=start, campaign_id=campaign_id)
    # Test calls from the browser (Try this script) are nobody's outcome: they are left out of every figure.
    calls = Call.objects.filter(is_test=False)
    calls = calls if campaign_id is None else calls.filter(campaign_id=campaign_id)
    base = {"campaign__id__exact": campaign_id, "is_test__exact": 0}  # its links list the calls it counts
    board.headline = _headline(calls, base, now)
    window = calls.filter(created_at__gte=start)
    scope = {**base, "created_at__gte": start}
    _details(board, window, scope)
    board.days = _days(window, scope, start, now)
    board.campaigns = _campaigns(window, scope) if campaign_id is None else []
    in_flight = calls.filter(status__in=IN_FLIGHT).count()
    board.in_flight = Figure(_("Calls in flight now"), f"{in_flight:,}",
                             calls_url(**base, status__in=",".join(IN_FLIGHT)))
    return board


def _headline(calls: QuerySet, base: dict[str, Any], now: datetime | None) -> list[dict[str, Any]]:
    starts = {key: period_start(key, now) for key in PERIODS}
    aggregates: dict[str, Any] = {}
    for key, start in starts.items():
        since = Q(created_at__gte=start)
        aggregates |= {
            f"{key}_placed": Count("pk", filter=since), f"{key}_answered": Count("pk", filter=since & ANSWERED),
            f"{key}_talk": Avg("duration", filter=since & ANSWERED), f"{key}_cost": Sum("cost_total", filter=since),
        }
    row = calls.filter(created_at__gte=min(starts.values())).aggregate(**aggregates)
    headline = []
    for key, start in starts.items():
        placed, answered = row[f"{key}_placed"], row[f"{key}_answered"]
        scope = {**base, "created_at__gte": start}
        headline.append({"key": key, "label": PERIODS[key][0], "figures": [
            Figure(_("Calls placed"), f"{placed:,}", calls_url(**scope)),
            Figure(_("Answer rate"), _rate(answered, placed), calls_url(**scope, answered="yes")),
            Figure(_("Average talk time"), _duration(row[f"{key}_talk"]), calls_url(**scope, answered="yes")),
            Figure(_("Cost"), _money(row[f"{key}_cost"]), calls_url(**scope)),
        ]})
    return headline


def _details(board: Dashboard, window: QuerySet, scope: dict[str, Any]) -> None:
    fields = extracted_titles()
    aggregates: dict[str, Any] = {"extracted": Count("pk", filter=EXTRACTED)}
    aggregates |= {f"status_{status}": Count("pk", filter=Q(status=status)) for status in CallStatus.values}
    aggregates |= {f"talk_{bucket.key}": Count("pk", filter=bucket.q) for bucket in TALK_BUCKETS}
    aggregates |= {f"filled_{name}": Count("pk", filter=EXTRACTED & filled_q(name)) for name in fields}
    row = window.aggregate(**aggregates)
    board.outcomes = [Figure(label, f"{row[f'status_{status}']:,}", calls_url(**scope, status__exact=status))
                      for status, label in CallStatus.choices if row[f"status_{status}"]]
    board.talk_counts = [row[f"talk_{bucket.key}"] for bucket in TALK_BUCKETS]
    board.talk = [Figure(bucket.label, f"{count:,}", calls_url(**scope, talk=bucket.key))
                  for bucket, count in zip(TALK_BUCKETS, board.talk_counts, strict=True)]
    board.fill = [Figure(title, _rate(row[f"filled_{name}"], row["extracted"]), calls_url(**scope, filled=name))
                  for name, title in fields.items()]


def _days(window: QuerySet, scope: dict[str, Any], start: datetime, now: datetime | None) -> list[dict[str, Any]]:
    rows = (window.annotate(day=TruncDate("created_at")).values("day", "status")
            .annotate(calls=Count("pk"), cost=Sum("cost_total")).order_by())
    today = timezone.localdate(now or timezone.now())
    days = {start.date() + timedelta(days=offset): {"counts": {}, "cost": Decimal(0)}
            for offset in range((today - start.date()).days + 1)}
    for row in rows:
        day = days.setdefault(row["day"], {"counts": {}, "cost": Decimal(0)})
        day["counts"][row["status"]] = row["calls"]
        day["cost"] += row["cost"] or Decimal(0)
    for day, values in days.items():
        midnight = timezone.make_aware(datetime.combine(day, datetime.min.time()))
        values |= {"day": day, "url": calls_url(**{**scope, "created_at__gte": midnight,
                                                     "created_at__lt": midnight + timedelta(days=1)})}
    return [days[day] for day in sorted(days)]


def _campaigns(window: QuerySet, scope: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (window.filter(campaign__isnull=False).values("campaign_id", "campaign__name")
            .annotate(placed=Count("pk"), answered=Count("pk", filter=ANSWERED), cost=Sum("cost_total"))
            .order_by("campaign__name"))
    return [{"name": row["campaign__name"], "placed": f"{row['placed']:,}",
             "answer_rate": _rate(row["answered"], row["placed"]), "cost": _money(row["cost"]),
             "id": row["campaign_id"], "url": calls_url(**{**scope, "campaign__id__exact": row["campaign_id"]})}
            for row in rows]


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def _duration(seconds: float | None) -> str:
    return format_duration(seconds) or "–"


def _money(amount: Decimal | None) -> str:
    return f"{amount or 0:.2f} {price_table().get('currency', 'USD')}"
