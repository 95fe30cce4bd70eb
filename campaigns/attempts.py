"""What one attempt came to, and what follows it: a retry later, or the end of the contact's run.

`attempt_result` reads a final call; `attempt_next` decides from the campaign's rules. Neither writes anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from calls.models import Call, CallStatus, EndReason
from calls.services.status import MACHINE_ANSWERS
from campaigns.models import Campaign, CampaignContact, ContactState, Outcome, SuccessRule
from campaigns.windows import Window, next_open

CONVERSATION = "conversation"
RETRYABLE = ("busy", "no_answer", "failed", "voicemail", "ai_unavailable", "stream_lost")
_BY_STATUS = {CallStatus.BUSY: "busy", CallStatus.NO_ANSWER: "no_answer", CallStatus.FAILED: "failed",
              CallStatus.CANCELED: "failed"}
_BY_END_REASON = {EndReason.AI_UNAVAILABLE: "ai_unavailable", EndReason.STREAM_LOST: "stream_lost",
                  EndReason.VOICEMAIL: "voicemail"}


def attempt_result(call: Call) -> str:
    """conversation, or one of RETRYABLE: busy, no_answer, failed, voicemail, ai_unavailable, stream_lost."""
    if call.status != CallStatus.COMPLETED:
        return _BY_STATUS.get(call.status, "failed")
    if call.answered_by in MACHINE_ANSWERS:
        return "voicemail"
    return _BY_END_REASON.get(call.end_reason, CONVERSATION)


@dataclass(frozen=True)
class NextStep:
    """The fields to write on the contact: pending again with a time, or done with an outcome and reason."""

    state: str
    next_attempt_at: datetime | None = None
    outcome: str = ""
    reason: str = ""

    def fields(self) -> dict:
        return {"state": self.state, "next_attempt_at": self.next_attempt_at, "outcome": self.outcome,
                "reason": self.reason, "claimed_at": None, "callback_at": None}


def attempt_next(*, campaign: Campaign, entry: CampaignContact, result: str, now: datetime) -> NextStep:
    """What follows an attempt that came to `result` (entry.attempts already counts it)."""
    if result == CONVERSATION:
        if campaign.success_rule == SuccessRule.EXTRACTED:
            return NextStep(state=ContactState.PROCESSING, reason=_("Waiting for the call's extraction."))
        return NextStep(state=ContactState.DONE, outcome=Outcome.SUCCEEDED, reason=_("Completed conversation."))
    if campaign.state == "canceled":
        return NextStep(state=ContactState.DONE, outcome=Outcome.CANCELED, reason=f"Last attempt: {result}.")
    delay = (campaign.retry_delays or {}).get(result)
    if delay is None or entry.attempts >= campaign.max_attempts:
        why = "no retry for this outcome" if delay is None else f"{entry.attempts} of {campaign.max_attempts} attempts"
        return NextStep(state=ContactState.DONE, outcome=Outcome.EXHAUSTED, reason=f"Last attempt: {result} ({why}).")
    return entry_schedule(campaign=campaign, entry=entry, earliest=now + timedelta(seconds=float(delay)))


def entry_schedule(*, campaign: Campaign, entry: CampaignContact, earliest: datetime) -> NextStep:
    """Pending at the window's first opening from `earliest` on; done when there is none before the end date."""
    starts = max(earliest, campaign.starts_at) if campaign.starts_at else earliest
    at = next_open(Window.from_json(campaign.window), entry.zone_list, starts)
    if at is None:
        return NextStep(state=ContactState.DONE, outcome=Outcome.NO_WINDOW,
                        reason=_("The window never holds in all of %(zones)s at once; set the contact's time zone.")
                        % {"zones": ", ".join(entry.zone_list)})
    if campaign.ends_at and at >= campaign.ends_at:
        return NextStep(state=ContactState.DONE, outcome=Outcome.EXPIRED,
                        reason=_("The next time inside the window is after the campaign's end."))
    return NextStep(state=ContactState.PENDING, next_attempt_at=at)
