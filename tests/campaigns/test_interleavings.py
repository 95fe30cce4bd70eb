"""Hypothesis: however two schedulers, a scheduler dying, status callbacks, another door dialling and the clock
interleave, no number is ever on two calls at once, no cap is exceeded, and in the end nobody is left unsettled.

Each step is one of the scheduler's own transactions (claim, dial, recover) or a real signed callback through our
webhook, so the interleavings are those of separate processes at transaction granularity. Derandomized, bounded.
"""
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.exceptions import CallRefused
from calls.models import Call
from calls.services import place_call
from campaigns.models import IN_FLIGHT_STATES, CampaignContact, ContactState
from campaigns.scheduler import campaign_claim, campaign_claims_recover, campaign_dial, campaigns_pass
from contacts.models import Contact
from tests.campaigns.helpers import campaign_of, end_call, live_calls, madrid_contacts

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=15, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MAX_CONCURRENT, IN_FLIGHT = 3, 2
FINAL = ["completed", "busy", "no-answer", "failed"]

steps = st.lists(st.one_of(
    st.tuples(st.just("claim"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("dial"), st.integers(0, 1)),
    st.tuples(st.just("die"), st.integers(0, 1)),
    st.tuples(st.just("end"), st.integers(0, 9), st.sampled_from(FINAL)),
    st.tuples(st.just("door"), st.integers(0, 5)),
    st.tuples(st.just("tick"), st.sampled_from([1, 61, django_settings.CAMPAIGN_CLAIM_STALE_SECONDS + 1, 3600])),
    st.tuples(st.just("pass")),
), max_size=25)


class Rollback(Exception):
    pass


@FUZZ
@given(steps=steps)
def test_no_interleaving_double_dials_or_exceeds_a_cap(steps, settings, client, fake_twilio):
    settings.CALLS_PER_SECOND, settings.MAX_CONCURRENT_CALLS = 1000, MAX_CONCURRENT
    try:
        with transaction.atomic():
            _run(steps, client, fake_twilio)
            raise Rollback
    except Rollback:
        pass


def _run(steps, client, fake_twilio):
    shared = madrid_contacts(2)  # in both campaigns: the same numbers from two campaigns at once
    contacts = shared + madrid_contacts(2, start=10) + madrid_contacts(2, start=20)
    rules = {"max_in_flight": IN_FLIGHT, "calls_per_second": 1000, "max_attempts": 2,
             "retry_delays": {name: 60 for name in ("busy", "no_answer", "failed", "voicemail")}}
    clock = timezone.now()
    campaigns = [campaign_of(shared + contacts[2:4], name="A", start=clock, **rules),
                 campaign_of(shared + contacts[4:6], name="B", start=clock, **rules)]
    pending: list[list] = [[], []]
    for step in steps:
        kind = step[0]
        if kind == "claim":
            pending[step[1]] += campaign_claim(campaign_id=campaigns[step[2]].pk, now=clock)
        elif kind == "dial" and pending[step[1]]:
            claim = pending[step[1]].pop(0)
            campaign_dial(entry_id=claim.entry_id, now=clock, claimed_at=claim.claimed_at)
        elif kind == "die":
            pending[step[1]].clear()
        elif kind == "end":
            live = list(live_calls().order_by("pk"))
            if live:
                end_call(client, fake_twilio, live[step[1] % len(live)], step[2], duration=10)
        elif kind == "door":
            try:
                place_call(contact=contacts[step[1]])
            except CallRefused:
                pass
        elif kind == "tick":
            clock += timedelta(seconds=step[1])
            campaign_claims_recover(now=clock)
        elif kind == "pass":
            campaigns_pass(now=clock)
        _check_limits(campaigns)
    _check_everyone_settles(campaigns, client, fake_twilio, clock)


def _check_limits(campaigns):
    live = live_calls()
    assert live.count() <= MAX_CONCURRENT
    assert not live.values("phone_number").annotate(n=Count("id")).filter(n__gt=1).exists()
    for campaign in campaigns:
        assert live.filter(campaign=campaign).count() <= IN_FLIGHT
        assert campaign.entries.filter(state__in=IN_FLIGHT_STATES).count() <= IN_FLIGHT


def _check_everyone_settles(campaigns, client, fake_twilio, clock):
    """Schedulers keep running, every call ends: within a bounded number of rounds every contact is done."""
    for _ in range(30):
        for call in live_calls():
            end_call(client, fake_twilio, call, "busy")
        clock += timedelta(seconds=django_settings.CAMPAIGN_CLAIM_STALE_SECONDS + 61)
        campaigns_pass(now=clock)
        _check_limits(campaigns)
        if not CampaignContact.objects.exclude(state=ContactState.DONE).exists():
            break
    assert not CampaignContact.objects.exclude(state=ContactState.DONE).exists()
    # Attempts counted are attempts made: one call per attempt of each contact, never two.
    for entry in CampaignContact.objects.all():
        calls = Call.objects.filter(campaign_id=entry.campaign_id, contact_id=entry.contact_id)
        assert calls.count() == entry.attempts
        assert calls.values("campaign_attempt").distinct().count() == entry.attempts
    assert Contact.objects.count() == 6
