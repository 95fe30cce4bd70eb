"""Campaigns: many contacts called under one set of rules (windows, retries, limits), and where each contact stands.

A Campaign holds the rules; a CampaignContact is one contact's run through it (attempts, next attempt, last call,
outcome). calls.Call points back at its campaign and attempt. The scheduler (campaigns.scheduler) moves contacts
pending -> dialing (claimed) -> calling (call placed) -> pending again (a retry) or done; campaigns.settling
settles a contact when its call ends.
"""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from contacts.models import Contact
from campaigns.rules import campaign_rules_check
from campaigns.windows import DEFAULT_WINDOW

# Seconds to wait before the next attempt, per outcome of the last call (README, "Campaigns").
DEFAULT_RETRY_DELAYS = {
    "busy": 30 * 60,
    "no_answer": 2 * 60 * 60,
    "failed": 30 * 60,
    "voicemail": 2 * 60 * 60,
    "ai_unavailable": 30 * 60,
    "stream_lost": 30 * 60,
}


def default_window() -> dict:
    return {"days": list(DEFAULT_WINDOW["days"]), "hours": [list(pair) for pair in DEFAULT_WINDOW["hours"]]}


def default_retry_delays() -> dict:
    return dict(DEFAULT_RETRY_DELAYS)


def default_time_zone() -> str:
    return settings.TIME_ZONE


class CampaignState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELED = "canceled", _("Canceled")


class SuccessRule(models.TextChoices):
    """What counts as a success: the conversation happened, or it also gave the data the campaign is after."""

    COMPLETED = "completed", _("A completed conversation")
    EXTRACTED = "extracted", _("A completed conversation with the required fields extracted")


class Campaign(models.Model):
    """A set of contacts to call with one agent profile, between dates, inside calling windows, within limits."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    state = models.CharField(_("state"), max_length=20, choices=CampaignState.choices, default=CampaignState.DRAFT,
                             db_index=True)
    profile = models.CharField(
        _("profile"), max_length=100, blank=True,
        help_text=_("Agent profile: a folder under AI/profiles/; empty for the default agent."),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True,
                                     help_text=_("No call before this (empty: when started)."))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True,
                                   help_text=_("No call after this; then the campaign ends."))
    window = models.JSONField(_("window"), default=default_window,
                              help_text=_("Days (0 = Monday) and local hours to call in."))
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone,
        help_text=_("The callee's zone when the number does not tell (a contact's own zone overrides both)."),
    )
    max_in_flight = models.PositiveIntegerField(_("max in flight"), default=5,
                                                help_text=_("Calls of this campaign at once, at most."))
    calls_per_second = models.FloatField(_("calls per second"), default=1.0,
                                         help_text=_("New calls of this campaign per second, at most."))
    retry_delays = models.JSONField(
        _("retry delays"), default=default_retry_delays,
        help_text=_("Seconds before another attempt, per outcome (busy, no_answer, failed, voicemail, "
                    "ai_unavailable, stream_lost); null: no retry for that outcome."),
    )
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=3)
    success_rule = models.CharField(_("success rule"), max_length=20, choices=SuccessRule.choices,
                                    default=SuccessRule.COMPLETED)
    required_fields = models.JSONField(
        _("required fields"), default=list, blank=True,
        help_text=_("Extracted fields that must be filled for a success (rule: extracted)."),
    )
    next_dial_at = models.DateTimeField(_("next dial at"), null=True, blank=True,
                                        help_text=_("Pacing: no new call of it before this."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name, verbose_name_plural = _("campaign"), _("campaigns")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        campaign_rules_check(
            profile=self.profile, window=self.window, time_zone=self.time_zone, max_in_flight=self.max_in_flight,
            calls_per_second=self.calls_per_second, retry_delays=self.retry_delays, max_attempts=self.max_attempts,
            success_rule=self.success_rule, required_fields=self.required_fields, starts_at=self.starts_at,
            ends_at=self.ends_at,
        )


class DialPace(models.Model):
    """One row: when the next campaign call of the whole deployment may start (CALLS_PER_SECOND, Twilio's limit
    for the account), booked under this row's lock by every scheduler (campaigns.scheduler.campaign_claim)."""

    next_dial_at = models.DateTimeField(_("next dial at"), null=True, blank=True)

    class Meta:
        verbose_name, verbose_name_plural = _("dial pace"), _("dial paces")

    def __str__(self) -> str:
        return f"next campaign dial at {self.next_dial_at}"


class ContactState(models.TextChoices):
    PENDING = "pending", _("Waiting for its next attempt")
    DIALING = "dialing", _("Being dialled")
    CALLING = "calling", _("On a call")
    PROCESSING = "processing", _("Waiting for the call's last report or its extraction")
    DONE = "done", _("Done")


IN_FLIGHT_STATES = (ContactState.DIALING, ContactState.CALLING)


class Outcome(models.TextChoices):
    """How a contact's run ended."""

    SUCCEEDED = "succeeded", _("Succeeded")
    NOT_SUCCEEDED = "not_succeeded", _("Talked, without the required data")
    EXHAUSTED = "exhausted", _("No success within the attempts allowed")
    REFUSED = "refused", _("Not callable (do-not-call, invalid number, ...)")
    NO_WINDOW = "no_window", _("No time inside the window")
    EXPIRED = "expired", _("The campaign's end date passed")
    CANCELED = "canceled", _("The campaign was canceled")


class CampaignContact(models.Model):
    """One contact's run through a campaign."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="entries")
    contact = models.ForeignKey(Contact, verbose_name=_("contact"), on_delete=models.CASCADE,
                                related_name="campaign_entries")
    state = models.CharField(_("state"), max_length=20, choices=ContactState.choices, default=ContactState.PENDING)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True,
                                 help_text=_("Overrides the zones of the number."))
    zones = models.CharField(_("zones"), max_length=400, blank=True,
                             help_text=_("The zones the window must hold in, comma-separated."))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    callback_at = models.DateTimeField(
        _("callback at"), null=True, blank=True,
        help_text=_("The callee asked, during the call going on, to be called back then: its next attempt."),
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True,
                                      help_text=_("When a scheduler took it to dial."))
    last_call = models.ForeignKey("calls.Call", verbose_name=_("last call"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    last_result = models.CharField(_("last result"), max_length=30, blank=True,
                                   help_text=_("What the last attempt came to."))
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name, verbose_name_plural = _("campaign contact"), _("campaign contacts")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_contact_once")]
        indexes = [
            models.Index(fields=["campaign", "state", "next_attempt_at"], name="campaign_due"),
            # The few contacts a pass's recovery looks at across campaigns (claimed, on a call). Not partial:
            # SQLite uses a partial index only when the query repeats its condition word for word.
            models.Index(fields=["state", "claimed_at"], name="campaign_by_state"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.campaign_id}: {self.state}"

    @property
    def zone_list(self) -> tuple[str, ...]:
        return (self.time_zone,) if self.time_zone else tuple(z for z in self.zones.split(",") if z)
