"""campaigns.scheduler with a controlled clock: windows per number, retries, limits, pause/resume/cancel, recovery
of a killed worker, do-not-call mid-campaign. Calls go to the fake Twilio REST server; their ends come back as
signed status callbacks through our webhook."""
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone, translation

from calls.models import Call, CallStatus
from calls.services import call_reconcile_stale, place_call
from calls.services.streaming import call_stream_failed, call_stream_finished, call_stream_started
from campaigns.models import CampaignState, ContactState, Outcome
from campaigns.scheduler import (
    campaign_claim,
    campaign_claims_recover,
    campaign_dial,
    campaigns_pass,
    campaigns_run,
)
from campaigns.services import campaign_cancel, campaign_pause, campaign_resume
from tests.campaigns.helpers import (
    TEN_TO_TWO,
    campaign_of,
    end_call,
    entry_of,
    live_calls,
    madrid_contacts,
    utc,
)
from contacts.models import Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.CALLS_PER_SECOND = 100
    settings.ALLOWED_CALL_COUNTRIES = ["ES", "US"]


def test_madrid_and_new_york_are_called_at_ten_on_their_own_clocks(fake_twilio):
    madrid = ContactFactory(phone_number="+34910000001")
    new_york = ContactFactory(phone_number="+12125550123")
    campaign = campaign_of([madrid, new_york], window=TEN_TO_TWO, start=utc(2026, 6, 15, 6, 0))
    assert entry_of(madrid).next_attempt_at == utc(2026, 6, 15, 8, 0)
    assert entry_of(new_york).next_attempt_at == utc(2026, 6, 15, 14, 0)
    assert campaigns_pass(now=utc(2026, 6, 15, 7, 59)) == 0
    assert campaigns_pass(now=utc(2026, 6, 15, 8, 0)) == 1
    assert [c.to for c in fake_twilio.calls.values()] == ["+34910000001"]
    assert campaigns_pass(now=utc(2026, 6, 15, 13, 59)) == 0
    assert campaigns_pass(now=utc(2026, 6, 15, 14, 0)) == 1
    assert [c.to for c in fake_twilio.calls.values()] == ["+34910000001", "+12125550123"]
    assert {call.campaign_id for call in Call.objects.all()} == {campaign.pk}


def test_on_dst_change_days_the_window_moves_with_each_clock(fake_twilio):
    madrid = ContactFactory(phone_number="+34910000001")
    new_york = ContactFactory(phone_number="+12125550123")
    # Saturday 2026-10-24 after both windows closed: Madrid changes that night, New York a week later.
    campaign_of([madrid, new_york], window=TEN_TO_TWO, start=utc(2026, 10, 24, 20, 0))
    assert entry_of(madrid).next_attempt_at == utc(2026, 10, 25, 9, 0)  # 10:00 CET (UTC+1)
    assert entry_of(new_york).next_attempt_at == utc(2026, 10, 25, 14, 0)  # 10:00 EDT (UTC-4)
    campaign_of([ContactFactory(phone_number="+12125550199")], name="Autumn", window=TEN_TO_TWO,
                start=utc(2026, 10, 31, 20, 0))
    later = Contact.objects.get(phone_number="+12125550199")
    assert entry_of(later).next_attempt_at == utc(2026, 11, 1, 15, 0)  # 10:00 EST (UTC-5)


def test_a_window_closed_when_the_turn_comes_puts_the_contact_back_uncounted(fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign_of([contact], window=TEN_TO_TWO, start=utc(2026, 6, 15, 9, 0))
    # Claimed when due (the claim does not read the window); its turn comes at 14:30 in Madrid.
    claims = campaign_claim(campaign_id=entry_of(contact).campaign_id, now=utc(2026, 6, 15, 12, 30))
    assert len(claims) == 1
    assert not campaign_dial(entry_id=claims[0].entry_id, now=utc(2026, 6, 15, 12, 30))  # 14:30 in Madrid
    entry = entry_of(contact)
    assert (entry.state, entry.attempts, entry.next_attempt_at) == ("pending", 0, utc(2026, 6, 16, 8, 0))
    assert not fake_twilio.calls


def test_the_in_flight_cap_holds_and_frees_as_calls_end(client, fake_twilio):
    contacts = madrid_contacts(5)
    campaign = campaign_of(contacts, max_in_flight=2, start=timezone.now())
    assert campaigns_pass(now=timezone.now()) == 2
    assert campaigns_pass(now=timezone.now() + timedelta(seconds=5)) == 0
    assert Call.objects.filter(campaign=campaign).count() == 2
    end_call(client, fake_twilio, Call.objects.filter(campaign=campaign).first(), "completed", duration=40)
    assert campaigns_pass(now=timezone.now() + timedelta(seconds=10)) == 1
    assert live_calls().count() == 2


def test_calls_per_second_spaces_the_dials(fake_twilio):
    campaign = campaign_of(madrid_contacts(6), calls_per_second=2, start=timezone.now())
    now = timezone.now()
    claims = campaign_claim(campaign_id=campaign.pk, now=now, horizon=1.0)
    assert [(c.dial_at - now).total_seconds() for c in claims] == [0.0, 0.5, 1.0]
    # Another scheduler at the same moment gets no slot: the booked times are in the campaign's row.
    assert campaign_claim(campaign_id=campaign.pk, now=now, horizon=1.0) == []
    later = campaign_claim(campaign_id=campaign.pk, now=now + timedelta(seconds=1), horizon=1.0)
    assert [(c.dial_at - now).total_seconds() for c in later] == [1.5, 2.0]


def test_calls_per_second_holds_for_all_campaigns_together(settings, fake_twilio):
    settings.CALLS_PER_SECOND = 4  # the account's limit: 4 new calls a second, whatever the campaigns say
    first = campaign_of(madrid_contacts(5), name="A", calls_per_second=4, start=timezone.now())
    second = campaign_of(madrid_contacts(5, start=50), name="B", calls_per_second=4, start=timezone.now())
    now = timezone.now()
    claims = campaign_claim(campaign_id=first.pk, now=now) + campaign_claim(campaign_id=second.pk, now=now)
    offsets = sorted((c.dial_at - now).total_seconds() for c in claims)
    assert offsets == [0.0, 0.25, 0.5, 0.75, 1.0]  # one pace across both, within the pass's second


def test_busy_is_retried_after_its_delay_until_the_attempts_run_out(client, fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign = campaign_of([contact], max_attempts=3, start=timezone.now())
    clock = timezone.now()
    for attempt in (1, 2, 3):
        assert campaigns_pass(now=clock) == 1
        call = Call.objects.get(campaign=campaign, campaign_attempt=attempt)
        end_call(client, fake_twilio, call, "busy")
        entry = entry_of(contact)
        assert entry.attempts == attempt and entry.last_call_id == call.pk and entry.last_result == "busy"
        if attempt < 3:
            call.refresh_from_db()
            assert entry.state == "pending"
            assert abs(entry.next_attempt_at - (call.ended_at + timedelta(minutes=30))) < timedelta(seconds=2)
            assert campaigns_pass(now=entry.next_attempt_at - timedelta(seconds=1)) == 0
            clock = entry.next_attempt_at
    assert (entry.state, entry.outcome) == ("done", Outcome.EXHAUSTED)
    assert "3 of 3 attempts" in entry.reason
    assert campaigns_pass(now=clock + timedelta(days=1)) == 0
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.COMPLETED and campaign.finished_at


@pytest.mark.parametrize("status, answered_by, result, delay", [
    ("no-answer", None, "no_answer", timedelta(hours=2)),
    ("failed", None, "failed", timedelta(minutes=30)),
    ("completed", "machine_start", "voicemail", timedelta(hours=2)),
])
def test_each_outcome_has_its_own_delay(client, fake_twilio, status, answered_by, result, delay):
    contact = madrid_contacts(1)[0]
    campaign_of([contact], start=timezone.now())
    campaigns_pass(now=timezone.now())
    call = Call.objects.get()
    end_call(client, fake_twilio, call, status, duration=5, answered_by=answered_by)
    entry, call = entry_of(contact), Call.objects.get()
    assert (entry.state, entry.last_result) == ("pending", result)
    assert abs(entry.next_attempt_at - (call.ended_at + delay)) < timedelta(seconds=2)


def test_an_outcome_without_retry_ends_the_run(client, fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign_of([contact], retry_delays={"busy": None}, start=timezone.now())
    campaigns_pass(now=timezone.now())
    end_call(client, fake_twilio, Call.objects.get(), "busy")
    entry = entry_of(contact)
    assert (entry.state, entry.outcome) == ("done", Outcome.EXHAUSTED) and "no retry" in entry.reason


def test_a_completed_conversation_succeeds_and_the_campaign_completes(client, fake_twilio):
    contacts = madrid_contacts(2)
    campaign = campaign_of(contacts, start=timezone.now())
    assert campaigns_pass(now=timezone.now()) == 2
    for call in Call.objects.all():
        end_call(client, fake_twilio, call, "completed", duration=60)
    assert {(e.state, e.outcome) for e in campaign.entries.all()} == {("done", Outcome.SUCCEEDED)}
    campaigns_pass(now=timezone.now())
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.COMPLETED


def test_the_extracted_rule_waits_for_the_extraction(client, fake_twilio):
    contacts = madrid_contacts(2)
    campaign = campaign_of(contacts, success_rule="extracted", required_fields=["budget"], start=timezone.now())
    campaigns_pass(now=timezone.now())
    for call in Call.objects.all():
        end_call(client, fake_twilio, call, "completed", duration=60)
    assert {e.state for e in campaign.entries.all()} == {ContactState.PROCESSING}
    first, second = Call.objects.order_by("pk")
    Call.objects.filter(pk=first.pk).update(processing={"status": "done"}, extracted_data={"budget": 900})
    Call.objects.filter(pk=second.pk).update(processing={"status": "done"}, extracted_data={"budget": None})
    campaigns_pass(now=timezone.now())
    assert entry_of(first.contact).outcome == Outcome.SUCCEEDED
    assert entry_of(second.contact).outcome == Outcome.NOT_SUCCEEDED and "budget" in entry_of(second.contact).reason
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.COMPLETED


def _completed_while_streaming(client, fake_twilio):
    """A campaign call that talked, whose final status came while its audio stream had not ended yet."""
    contact = madrid_contacts(1)[0]
    campaign_of([contact], start=timezone.now())
    campaigns_pass(now=timezone.now())
    call = Call.objects.get()
    call_stream_started(call=call, stream_sid="MZ" + "1" * 32)
    end_call(client, fake_twilio, call, "completed", duration=20)
    return contact, call


def test_an_ai_failure_reported_after_the_final_status_still_makes_a_retry(client, fake_twilio):
    contact, call = _completed_while_streaming(client, fake_twilio)
    assert entry_of(contact).state == ContactState.PROCESSING  # the stream has not said how it ended
    campaigns_pass(now=timezone.now())
    assert entry_of(contact).state == ContactState.PROCESSING
    call_stream_failed(call_id=call.pk, reason="realtime server error")
    campaigns_pass(now=timezone.now())
    entry = entry_of(contact)
    assert (entry.state, entry.last_result, entry.attempts) == ("pending", "ai_unavailable", 1)


def test_a_conversation_whose_stream_ended_well_succeeds_at_the_next_pass(client, fake_twilio):
    contact, call = _completed_while_streaming(client, fake_twilio)
    call_stream_finished(call_id=call.pk, end_reason="bot_hangup", recording_name="")
    campaigns_pass(now=timezone.now())
    assert (entry_of(contact).state, entry_of(contact).outcome) == ("done", Outcome.SUCCEEDED)


def test_pause_stops_new_dials_at_once_live_calls_finish_and_resume_continues(client, fake_twilio):
    contacts = madrid_contacts(4)
    campaign = campaign_of(contacts, max_in_flight=2, start=timezone.now())
    assert campaigns_pass(now=timezone.now()) == 2
    claims = campaign_claim(campaign_id=campaign.pk, now=timezone.now())
    assert claims == []  # cap reached
    campaign_pause(campaign=campaign)
    live = list(live_calls())
    end_call(client, fake_twilio, live[0], "completed", duration=30)  # a live call finishes and settles
    assert campaigns_pass(now=timezone.now() + timedelta(seconds=5)) == 0
    assert not any(call.hung_up for call in fake_twilio.calls.values())
    assert entry_of(live[0].contact).outcome == Outcome.SUCCEEDED
    campaign_resume(campaign=campaign)
    assert campaigns_pass(now=timezone.now() + timedelta(seconds=10)) == 1


def test_a_claim_made_before_a_pause_is_put_back_not_dialled(fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign = campaign_of([contact], start=timezone.now())
    claims = campaign_claim(campaign_id=campaign.pk, now=timezone.now())
    campaign_pause(campaign=campaign)
    assert not campaign_dial(entry_id=claims[0].entry_id, now=timezone.now())
    entry = entry_of(contact)
    assert (entry.state, entry.attempts) == ("pending", 0) and not fake_twilio.calls


def test_cancel_hangs_up_nothing_and_settles_the_rest(client, fake_twilio):
    contacts = madrid_contacts(3)
    campaign = campaign_of(contacts, max_in_flight=1, start=timezone.now())
    assert campaigns_pass(now=timezone.now()) == 1
    campaign = campaign_cancel(campaign=campaign)
    assert campaign.state == CampaignState.CANCELED and campaign.finished_at is None
    assert [e.outcome for e in campaign.entries.filter(state="done")] == [Outcome.CANCELED] * 2
    assert not fake_twilio.requests_to("POST", f"/Calls/{Call.objects.get().twilio_sid}.json")
    end_call(client, fake_twilio, Call.objects.get(), "no-answer")
    campaigns_pass(now=timezone.now())
    campaign.refresh_from_db()
    assert entry_of(Call.objects.get().contact).outcome == Outcome.CANCELED
    assert campaign.finished_at is not None and len(fake_twilio.calls) == 1


def test_a_worker_killed_between_claim_and_dial_is_recovered_without_a_double_dial(settings, fake_twilio):
    settings.CAMPAIGN_CLAIM_STALE_SECONDS = 300
    contacts = madrid_contacts(2)
    campaign = campaign_of(contacts, start=timezone.now())
    now = timezone.now()
    first, second = campaign_claim(campaign_id=campaign.pk, now=now)
    # The worker placed the first contact's call, then died before recording it; the second it never dialled.
    dialled = entry_of(contacts[0])
    place_call(contact=contacts[0], campaign_id=campaign.pk, campaign_attempt=dialled.attempts)
    assert campaigns_pass(now=now + timedelta(seconds=299)) == 0  # claims still fresh (CAMPAIGN_CLAIM_STALE_SECONDS)
    assert campaigns_pass(now=now + timedelta(seconds=301)) == 1  # only the undialled one
    assert sorted(c.to for c in fake_twilio.calls.values()) == sorted(str(c.phone_number) for c in contacts)
    assert {(e.state, e.attempts) for e in campaign.entries.all()} == {("calling", 1)}


def test_a_slow_scheduler_never_dials_a_claim_that_was_recovered_and_claimed_again(fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign = campaign_of([contact], start=timezone.now())
    now = timezone.now()
    (slow,) = campaign_claim(campaign_id=campaign.pk, now=now)  # this scheduler then hangs on slow dials
    later = now + timedelta(seconds=settings.CAMPAIGN_CLAIM_STALE_SECONDS + 1)
    campaign_claims_recover(now=later)  # another one puts the claim back...
    (fresh,) = campaign_claim(campaign_id=campaign.pk, now=later)  # ...and claims the contact itself
    assert not campaign_dial(entry_id=slow.entry_id, now=later, claimed_at=slow.claimed_at)
    assert campaign_dial(entry_id=fresh.entry_id, now=later, claimed_at=fresh.claimed_at)
    assert len(fake_twilio.calls) == 1 and entry_of(contact).attempts == 1


def test_a_claim_held_too_long_is_put_back_not_dialled(fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign = campaign_of([contact], start=timezone.now())
    now = timezone.now()
    (claim,) = campaign_claim(campaign_id=campaign.pk, now=now)
    late = now + timedelta(seconds=settings.CAMPAIGN_CLAIM_STALE_SECONDS / 2 + 1)
    assert not campaign_dial(entry_id=claim.entry_id, now=late, claimed_at=claim.claimed_at)
    assert (entry_of(contact).state, entry_of(contact).attempts) == ("pending", 0) and not fake_twilio.calls


def test_a_lost_final_callback_is_settled_by_the_stale_sweep(settings, fake_twilio):
    settings.CALL_STALE_AFTER = 0
    contact = madrid_contacts(1)[0]
    campaign_of([contact], start=timezone.now())
    campaigns_pass(now=timezone.now())
    call = Call.objects.get()
    fake_twilio.set_state(call.twilio_sid, status="busy")
    assert call_reconcile_stale() == 1
    entry = entry_of(contact)
    assert (entry.state, entry.last_result, entry.attempts) == ("pending", "busy", 1)


def test_a_contact_made_do_not_call_mid_campaign_is_not_dialled(fake_twilio):
    contacts = madrid_contacts(2)
    campaign_of(contacts, start=timezone.now())
    contacts[1].do_not_call = True
    contacts[1].save()
    assert campaigns_pass(now=timezone.now()) == 1
    entry = entry_of(contacts[1])
    assert (entry.state, entry.outcome) == ("done", Outcome.REFUSED) and "do not call" in entry.reason
    assert [c.to for c in fake_twilio.calls.values()] == [str(contacts[0].phone_number)]


def test_contacts_barred_when_the_campaign_is_made_are_settled_at_once(fake_twilio):
    barred = ContactFactory(phone_number="+34910000009", do_not_call=True)
    campaign = campaign_of([barred, *madrid_contacts(1)])
    assert entry_of(barred).outcome == Outcome.REFUSED
    assert campaign.entries.filter(state="pending").count() == 1


def test_a_number_on_a_call_from_another_door_waits(settings, fake_twilio):
    settings.CAMPAIGN_NOT_NOW_SECONDS = 90
    contact = madrid_contacts(1)[0]
    place_call(contact=contact)  # e.g. the API, still ringing
    campaign_of([contact], start=timezone.now())
    now = timezone.now()
    assert campaigns_pass(now=now) == 0
    entry = entry_of(contact)
    assert (entry.state, entry.attempts) == ("pending", 0) and "on another call" in entry.reason
    assert entry.next_attempt_at == now + timedelta(seconds=90)
    assert len(fake_twilio.calls) == 1


def test_the_global_cap_holds_across_campaigns_and_doors(settings, fake_twilio):
    settings.MAX_CONCURRENT_CALLS = 3
    place_call(contact=ContactFactory(phone_number="+34910999999"))
    campaign_of(madrid_contacts(4), name="A", start=timezone.now())
    campaign_of(madrid_contacts(4, start=100), name="B", start=timezone.now())
    campaigns_pass(now=timezone.now())
    campaigns_pass(now=timezone.now() + timedelta(seconds=settings.CAMPAIGN_NOT_NOW_SECONDS + 1))
    assert live_calls().count() == 3


def test_the_end_date_expires_who_is_left(fake_twilio):
    contacts = madrid_contacts(2)
    now = timezone.now()
    campaign = campaign_of(contacts, max_in_flight=1, ends_at=now + timedelta(hours=1), start=now)
    assert campaigns_pass(now=now) == 1
    assert campaigns_pass(now=now + timedelta(hours=2)) == 0
    assert campaign.entries.filter(outcome=Outcome.EXPIRED).count() == 1


def test_a_dial_twilio_refuses_is_retried_as_failed(fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign_of([contact], start=timezone.now())
    fake_twilio.fail_next = (500, 20500, "Internal Server Error")
    assert campaigns_pass(now=timezone.now()) == 1
    entry = entry_of(contact)
    assert (entry.state, entry.last_result, entry.attempts) == ("pending", "failed", 1)
    assert Call.objects.get().status == CallStatus.FAILED


def test_the_scheduled_task_makes_no_pass_without_an_active_campaign(fake_twilio):
    contact = madrid_contacts(1)[0]
    campaign = campaign_of([contact])  # a draft
    # A stale claim that any pass would put back (recovery runs over every campaign).
    campaign.entries.update(state=ContactState.DIALING, attempts=1,
                            claimed_at=timezone.now() - timedelta(seconds=settings.CAMPAIGN_CLAIM_STALE_SECONDS + 5))
    assert campaigns_run(seconds=0.2, interval=0.05) == 0
    assert entry_of(contact).state == ContactState.DIALING
    campaign_of(madrid_contacts(1, start=50), name="Live", start=timezone.now())
    campaigns_run(seconds=0.2, interval=0.05)
    assert entry_of(contact).state == ContactState.PENDING


def test_the_scheduled_task_passes_until_its_time_is_up(fake_twilio):
    campaign_of(madrid_contacts(2), max_in_flight=1, start=timezone.now())
    assert campaigns_run(seconds=0.3, interval=0.1) == 1
    assert len(fake_twilio.calls) == 1


def test_a_spanish_deployment_stores_why_a_contact_was_not_called_in_spanish(fake_twilio, settings):
    settings.LANGUAGE_CODE = "es"
    try:
        contacts = madrid_contacts(2)
        campaign_of(contacts, start=timezone.now())
        contacts[1].do_not_call = True
        contacts[1].save()
        assert campaigns_pass(now=timezone.now()) == 1
    finally:
        translation.deactivate()
    entry = entry_of(contacts[1])
    assert (entry.outcome, entry.reason) == (Outcome.REFUSED, "No llamado: no llamar.")
