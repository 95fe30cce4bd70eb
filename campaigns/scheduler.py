"""The campaign scheduler: claim due contacts within the limits, dial them, recover what a dead worker left.

Every limit is decided in the database, so any number of schedulers (django-q2 workers, hosts) can run at once:
- a claim (pending -> dialing) happens in one transaction that holds the campaign's row (SELECT ... FOR UPDATE
  SKIP LOCKED on PostgreSQL: a second scheduler skips the campaign for this pass; SQLite's IMMEDIATE transactions
  take the database's write lock at BEGIN), counts the campaign's contacts in flight (dialing + calling) against
  `max_in_flight`, and books dial times `1 / calls_per_second` apart on `Campaign.next_dial_at`, and no closer than
  `1 / CALLS_PER_SECOND` to any other campaign's on the one DialPace row (locked too: the account's limit);
- the global MAX_CONCURRENT_CALLS and "one call per number at once" are checked by calls.services.placing when
  the call row is written, under a lock, whatever door places the call; a refusal puts the contact back.
A claim carries its time. A scheduler killed between claim and dial leaves a stale claim: `campaign_claims_recover`
links it to its call if one was written (never dialled twice) and puts it back otherwise (nobody stuck).
Functions take `now`, so tests drive the clock.
"""
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from calls.exceptions import CallError, CallNotNow, CallRefused, TwilioError
from calls.models import FINAL_STATUSES, Call
from calls.services.placing import place_call
from campaigns.attempts import attempt_next, entry_schedule
from campaigns.models import (
    IN_FLIGHT_STATES,
    Campaign,
    CampaignContact,
    CampaignState,
    ContactState,
    DialPace,
    Outcome,
)
from campaigns.settling import campaign_contact_settle, campaign_contacts_settle_waiting
from campaigns.signals import campaign_completed
from campaigns.windows import Window, is_open

logger = logging.getLogger(__name__)

# Contacts one pass claims per campaign, at most (the rest wait for the next pass).
PASS_CLAIMS = 50
# The scheduled task runs passes this often for this long (django-q2 schedules run at most once a minute).
PASS_INTERVAL = 1.0
RUN_SECONDS = 55.0
# Campaigns a pass looks at: those that may dial or still have calls to settle (a canceled one until settled).
ACTIVE = Q(state__in=(CampaignState.RUNNING, CampaignState.PAUSED)) | Q(
    state=CampaignState.CANCELED, finished_at__isnull=True)


@dataclass(frozen=True)
class Claim:
    """A claimed contact, its booked dial time, and the claim's time: the claim's identity (a contact put back and
    claimed again by another scheduler carries another time, so this one's holder leaves it alone)."""

    entry_id: int
    dial_at: datetime
    claimed_at: datetime


def campaigns_run(*, seconds: float = RUN_SECONDS, interval: float = PASS_INTERVAL) -> int:
    """The scheduled task: passes every `interval` seconds for `seconds`; returns how many calls were placed.

    Returns at once when no campaign is active, so an idle deployment does not keep a worker busy."""
    deadline, placed = time.monotonic() + seconds, 0
    while Campaign.objects.filter(ACTIVE).exists():
        placed += campaigns_pass(horizon=interval)
        if time.monotonic() + interval >= deadline:
            break
        time.sleep(interval)
    return placed


def campaigns_pass(
    *, now: datetime | None = None, horizon: float = PASS_INTERVAL, campaign_id: int | None = None,
) -> int:
    """One pass over every campaign (or only `campaign_id`): recover stale claims, settle what finished, claim and
    dial what is due.

    Returns how many calls were placed. Writes CampaignContacts and Campaigns; places calls (place_call).
    """
    now = now or timezone.now()
    campaign_claims_recover(now=now)
    placed = 0
    campaigns = Campaign.objects.filter(ACTIVE)
    if campaign_id is not None:
        campaigns = campaigns.filter(pk=campaign_id)
    for campaign_id, state, ends_at in campaigns.values_list("id", "state", "ends_at"):
        campaign_contacts_settle_waiting(campaign_id=campaign_id, now=now)
        if state == CampaignState.RUNNING:
            if ends_at and ends_at <= now:
                campaign_expire(campaign_id=campaign_id)
            claims = campaign_claim(campaign_id=campaign_id, now=now, horizon=horizon)
            placed += _dial_paced(claims, now=now)
        campaign_complete_if_settled(campaign_id=campaign_id, now=now)
    return placed


def _dial_paced(claims: list[Claim], *, now: datetime) -> int:
    started, placed = time.monotonic(), 0
    for claim in claims:
        wait = (claim.dial_at - now).total_seconds() - (time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)
        placed += campaign_dial(entry_id=claim.entry_id, now=max(now, claim.dial_at), claimed_at=claim.claimed_at)
    return placed


@transaction.atomic
def campaign_claim(*, campaign_id: int, now: datetime, horizon: float = PASS_INTERVAL) -> list[Claim]:
    """Claim the campaign's due contacts that its limits allow now (dialing, attempts + 1, claimed_at = now).

    Returns the claims with their booked dial times (all within `horizon` seconds of `now`). Writes the claimed
    CampaignContacts and Campaign.next_dial_at; nothing when another scheduler holds the campaign.
    """
    campaign = (Campaign.objects.select_for_update(skip_locked=True)
                .filter(pk=campaign_id, state=CampaignState.RUNNING).first())
    if campaign is None:
        return []
    entries = CampaignContact.objects.filter(campaign_id=campaign_id)
    free = min(campaign.max_in_flight - entries.filter(state__in=IN_FLIGHT_STATES).count(), _global_room())
    if free <= 0:
        return []
    # The deployment's pace (every campaign together) under its row's lock, then this campaign's own.
    pace, _created = DialPace.objects.select_for_update().get_or_create(pk=1)
    own, shared = 1.0 / campaign.calls_per_second, 1.0 / settings.CALLS_PER_SECOND
    interval = max(own, shared)
    first = max(now, campaign.next_dial_at or now, pace.next_dial_at or now)
    slots = math.floor((now + timedelta(seconds=horizon) - first).total_seconds() / interval) + 1
    wanted = min(free, slots, PASS_CLAIMS)
    if wanted <= 0:
        return []
    ids = list(entries.filter(state=ContactState.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id").values_list("id", flat=True)[:wanted])
    if not ids:
        return []
    CampaignContact.objects.filter(pk__in=ids, state=ContactState.PENDING).update(
        state=ContactState.DIALING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    dial_times = [first + timedelta(seconds=i * interval) for i in range(len(ids))]
    Campaign.objects.filter(pk=campaign_id).update(next_dial_at=dial_times[-1] + timedelta(seconds=own))
    DialPace.objects.filter(pk=1).update(next_dial_at=dial_times[-1] + timedelta(seconds=shared))
    return [Claim(entry_id=entry_id, dial_at=at, claimed_at=now) for entry_id, at in zip(ids, dial_times)]


def _global_room() -> int:
    """A hint of how many more calls MAX_CONCURRENT_CALLS allows (placing enforces it); large when unlimited."""
    limit = settings.MAX_CONCURRENT_CALLS
    if not limit:
        return PASS_CLAIMS
    live = Call.objects.exclude(status__in=FINAL_STATUSES).count()
    return limit - live - CampaignContact.objects.filter(state=ContactState.DIALING).count()


def campaign_dial(*, entry_id: int, now: datetime, claimed_at: datetime | None = None) -> bool:
    """Dial one claimed contact (the claim made at `claimed_at`; any claim when None), after checking the claim is
    still this one and fresh, the campaign still runs, the window is open and the contact may be called; whether a
    call was placed. Puts the claim back (pending) when it may not dial now, settles the contact as refused when it
    may never be called. Writes the CampaignContact; place_call writes the call.

    A claim older than half CAMPAIGN_CLAIM_STALE_SECONDS is put back rather than dialled: recovery releases claims
    only past the whole of it, so a claim recovery may have released is never dialled.
    """
    entries = CampaignContact.objects.select_related("campaign", "contact").filter(
        pk=entry_id, state=ContactState.DIALING)
    if claimed_at is not None:
        entries = entries.filter(claimed_at=claimed_at)
    entry = entries.first()
    if entry is None:
        return False
    campaign = entry.campaign
    if (now - entry.claimed_at).total_seconds() > settings.CAMPAIGN_CLAIM_STALE_SECONDS / 2:
        _release(entry, next_attempt_at=now, reason="")
        return False
    if campaign.state != CampaignState.RUNNING:
        _release(entry, next_attempt_at=entry.next_attempt_at, reason="")
        return False
    if not is_open(Window.from_json(campaign.window), entry.zone_list, now):
        step = entry_schedule(campaign=campaign, entry=entry, earliest=now)
        _release(entry, next_attempt_at=step.next_attempt_at, reason=_("Outside the window when its turn came."))
        return False
    refusal = entry.contact.call_refusal()
    if refusal is not None:
        _finish(entry, outcome=Outcome.REFUSED, reason=_("Not called: %(reason)s.") % {"reason": refusal.label})
        return False
    try:
        call = place_call(contact=entry.contact, campaign_id=campaign.pk, campaign_attempt=entry.attempts)
    except CallNotNow as exc:
        _release(entry, next_attempt_at=_not_now(now), reason=exc.message)
        return False
    except CallRefused as exc:
        _finish(entry, outcome=Outcome.REFUSED, reason=exc.message)
        return False
    except TwilioError as exc:
        # place_call recorded the call as failed; its end settled the contact (a retry, or exhausted).
        logger.warning("Campaign %s dial of contact=%s failed: %s", campaign.pk, entry.contact_id, exc.message)
        return True
    except CallError as exc:  # Twilio not configured: nothing was written; try again later
        _release(entry, next_attempt_at=_not_now(now), reason=exc.message)
        return False
    _held(entry).update(state=ContactState.CALLING, last_call=call, claimed_at=None)
    logger.info("Campaign %s placed sid=%s contact=%s attempt %s", campaign.pk, call.twilio_sid,
                entry.contact_id, entry.attempts)
    return True


def _release(entry: CampaignContact, *, next_attempt_at: datetime | None, reason: str) -> None:
    """Undo a claim that did not dial: pending again, the attempt not counted."""
    fields = {"state": ContactState.PENDING, "attempts": entry.attempts - 1, "claimed_at": None,
              "next_attempt_at": next_attempt_at, "reason": reason}
    if next_attempt_at is None and entry.campaign.state == CampaignState.RUNNING:
        step = entry_schedule(campaign=entry.campaign, entry=entry, earliest=timezone.now())
        fields = {**step.fields(), "attempts": entry.attempts - 1, "reason": step.reason or reason}
    _held(entry).update(**fields)


def _finish(entry: CampaignContact, *, outcome: str, reason: str) -> None:
    _held(entry).update(state=ContactState.DONE, outcome=outcome, reason=reason, claimed_at=None,
                        next_attempt_at=None)


def _held(entry: CampaignContact):
    """The contact, only while it is still under the very claim `entry` was read with."""
    return CampaignContact.objects.filter(pk=entry.pk, state=ContactState.DIALING, attempts=entry.attempts,
                                          claimed_at=entry.claimed_at)


def _not_now(now: datetime) -> datetime:
    """When a contact refused for now (its number busy elsewhere, MAX_CONCURRENT_CALLS reached) is tried again."""
    return now + timedelta(seconds=settings.CAMPAIGN_NOT_NOW_SECONDS)


def campaign_claims_recover(*, now: datetime) -> int:
    """Settle what a dead scheduler or a lost report left: stale claims, and calls that ended unnoticed.

    A stale claim with a call written for it follows that call (calling, or settled if it ended); one without is put
    back, its attempt uncounted. A contact on a call that is final (or deleted) is settled. Returns how many moved.
    """
    moved = 0
    stale = CampaignContact.objects.select_related("campaign").filter(
        state=ContactState.DIALING, claimed_at__lt=now - timedelta(seconds=settings.CAMPAIGN_CLAIM_STALE_SECONDS))
    for entry in stale.order_by()[:500]:  # unordered: the state index answers at once
        call = Call.objects.filter(campaign_id=entry.campaign_id, contact_id=entry.contact_id,
                                   campaign_attempt=entry.attempts).first()
        if call is None:
            _release(entry, next_attempt_at=now, reason="")
        elif call.is_final:
            campaign_contact_settle(call=call, now=now)
        else:
            CampaignContact.objects.filter(pk=entry.pk, state=ContactState.DIALING).update(
                state=ContactState.CALLING, last_call=call, claimed_at=None)
        moved += 1
    ended = CampaignContact.objects.filter(state=ContactState.CALLING, last_call__status__in=FINAL_STATUSES)
    for entry in ended.select_related("last_call").order_by()[:500]:
        moved += campaign_contact_settle(call=entry.last_call, now=now)
    orphans = CampaignContact.objects.select_related("campaign").filter(
        state=ContactState.CALLING, last_call__isnull=True)
    for entry in orphans.order_by()[:500]:
        step = attempt_next(campaign=entry.campaign, entry=entry, result="failed", now=now)
        moved += CampaignContact.objects.filter(pk=entry.pk, state=ContactState.CALLING,
                                                last_call__isnull=True).update(**step.fields())
    return moved


def campaign_expire(*, campaign_id: int) -> int:
    """The campaign's end date has passed: its pending contacts are done (expired). How many."""
    return CampaignContact.objects.filter(campaign_id=campaign_id, state=ContactState.PENDING).update(
        state=ContactState.DONE, outcome=Outcome.EXPIRED, reason=_("The campaign's end date passed."),
        next_attempt_at=None)


def campaign_complete_if_settled(*, campaign_id: int, now: datetime) -> bool:
    """A running campaign whose every contact is done becomes completed (a canceled one gets its finish time).
    Sends campaigns.signals.campaign_completed in the transaction that completes it (webhooks out listen)."""
    if CampaignContact.objects.filter(campaign_id=campaign_id).exclude(state=ContactState.DONE).exists():
        return False
    finished = Campaign.objects.filter(pk=campaign_id, finished_at__isnull=True)
    finished.filter(state=CampaignState.CANCELED).update(finished_at=now)
    with transaction.atomic():
        completed = finished.filter(state=CampaignState.RUNNING).update(state=CampaignState.COMPLETED,
                                                                       finished_at=now)
        if completed:
            campaign_completed.send(sender=Campaign, campaign=Campaign.objects.get(pk=campaign_id))
    return bool(completed)
