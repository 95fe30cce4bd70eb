"""`{% call_dashboard %}`: the dashboard on the admin home (templates/admin/voicebot/index.html), for staff who
may view calls. `?period=today|7d|30d` and `?campaign=<id>` choose what it shows; anything else shows the default."""
from django import template
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from calls.models import CallStatus
from calls.pricing import price_table
from calls.review.charts import Column, bar_chart
from calls.review.dashboard import DEFAULT_PERIOD, PERIODS, Dashboard, dashboard_build
from calls.review.list_filters import TALK_BUCKETS
from campaigns.models import Campaign

register = template.Library()
# One colour per outcome whatever the days show: green for talked, warm for not reached, blue for still going.
OUTCOME_COLOURS = {
    CallStatus.COMPLETED: "#2e7d32", CallStatus.NO_ANSWER: "#f9a825", CallStatus.BUSY: "#ef6c00",
    CallStatus.FAILED: "#c62828", CallStatus.CANCELED: "#757575", CallStatus.IN_PROGRESS: "#1565c0",
    CallStatus.RINGING: "#42a5f5", CallStatus.INITIATED: "#00838f", CallStatus.QUEUED: "#b0bec5",
}


@register.inclusion_tag("admin/calls/dashboard.html", takes_context=True)
def call_dashboard(context: template.Context) -> dict:
    request: HttpRequest = context["request"]
    if not request.user.has_perm("calls.view_call"):
        return {"allowed": False}
    period = request.GET.get("period", DEFAULT_PERIOD)
    campaign_value = request.GET.get("campaign", "")
    campaign = Campaign.objects.filter(pk=campaign_value).only("name").first() if campaign_value.isdigit() else None
    board = dashboard_build(period=period, campaign_id=campaign.pk if campaign else None)
    return {
        "allowed": True, "board": board, "periods": [(key, label) for key, (label, _days) in PERIODS.items()],
        "campaign": campaign, "unknown_campaign": bool(campaign_value) and campaign is None,
        "charts": _charts(board),
    }


def _charts(board: Dashboard) -> list:
    every = 1 if len(board.days) <= 10 else 5
    labels = dict(CallStatus.choices)
    per_day = [Column(f"{day['day']:%d/%m}", day["url"],
                      tuple((labels[status], count) for status, count in sorted(day["counts"].items())))
               for day in board.days]
    talk = [Column(bucket.label, figure.url, ((_("calls"), count),))
            for bucket, figure, count in zip(TALK_BUCKETS, board.talk, board.talk_counts, strict=True)]
    cost = [Column(f"{day['day']:%d/%m}", day["url"], ((_("cost"), day["cost"]),)) for day in board.days]
    return [
        bar_chart(per_day, title=_("Calls per day by outcome"), label_every=every,
                  colours={labels[status]: colour for status, colour in OUTCOME_COLOURS.items()}),
        bar_chart(talk, title=_("Talk time of answered calls")),
        bar_chart(cost, title=_("Cost per day"), unit=str(price_table().get("currency", "USD")), label_every=every),
    ]
