"""Booking a callback the callee asked for: a local date and time, on the callee's own clock, becomes the instant of
the next attempt (inside the campaign's window, or its next opening after that time). Reads only; writes nothing."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from campaigns.attempts import entry_schedule
from campaigns.models import Campaign, CampaignContact, ContactState

MAX_AHEAD = timedelta(days=90)


class CallbackRefused(ValueError):
    """No attempt can be booked for that time; the message says why (the model reads it to the callee)."""


def callback_time(*, campaign: Campaign, entry: CampaignContact, wanted: datetime, now: datetime) -> tuple[
        datetime, str]:
    """The instant booked for `wanted` (naive, the callee's wall clock) and the zone it was read in.

    A number that spans several zones (a Spanish mobile: Madrid and the Canaries) is read in the one where that wall
    time comes last, so nobody is called earlier than agreed. Raises CallbackRefused."""
    zones = entry.zone_list or (campaign.time_zone,)
    zone, at = max(((name, wanted.replace(tzinfo=ZoneInfo(name))) for name in zones), key=lambda pair: pair[1])
    if at <= now:
        raise CallbackRefused(f"That time has already passed for the callee ({_local(now, zone)} now there).")
    if at - now > MAX_AHEAD:
        raise CallbackRefused(f"Callbacks can be booked up to {MAX_AHEAD.days} days ahead.")
    step = entry_schedule(campaign=campaign, entry=entry, earliest=at)
    if step.state != ContactState.PENDING or step.next_attempt_at is None:
        raise CallbackRefused(step.reason)
    return step.next_attempt_at, zone


def _local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
