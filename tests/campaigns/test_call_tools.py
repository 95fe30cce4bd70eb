"""The live call's tools as they write: do_not_call (the contact and its campaign runs) and schedule_callback (the
next attempt at the callee's local time, inside the window, kept when the call ends). The booking rule first."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from calls.models import Call
from calls.services import place_call
from campaigns.attempts import NextStep
from campaigns.call_tools import call_tool_run
from campaigns.callbacks import CallbackRefused, callback_time
from campaigns.models import Campaign, CampaignContact, ContactState, Outcome
from campaigns.scheduler import campaigns_pass
from tests.campaigns.helpers import TEN_TO_TWO, campaign_of, end_call, madrid_contacts, utc

MONDAY_9_UTC = utc(2026, 3, 2, 9, 0)  # 10:00 in Madrid (CET), 09:00 in the Canaries


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.CALLS_PER_SECOND = 100


def booking(wanted: datetime, *, zones: str = "Europe/Madrid", now: datetime = MONDAY_9_UTC, **rules):
    campaign = Campaign(name="c", window=TEN_TO_TWO, time_zone="Europe/Madrid", **rules)
    return callback_time(campaign=campaign, entry=CampaignContact(zones=zones), wanted=wanted, now=now)


def test_a_time_inside_the_window_is_booked_as_said_on_the_callees_clock():
    assert booking(datetime(2026, 3, 3, 11, 30)) == (utc(2026, 3, 3, 10, 30), "Europe/Madrid")


def test_a_time_outside_the_window_is_booked_at_its_next_opening():
    assert booking(datetime(2026, 3, 3, 15, 0)) == (utc(2026, 3, 4, 9, 0), "Europe/Madrid")


def test_a_number_of_several_zones_is_read_where_that_time_comes_last_so_nobody_is_called_early():
    at, zone = booking(datetime(2026, 3, 3, 11, 30), zones="Atlantic/Canary,Europe/Madrid")
    assert (at, zone) == (utc(2026, 3, 3, 11, 30), "Atlantic/Canary")


def test_a_contact_time_zone_overrides_the_numbers():
    campaign = Campaign(name="c", window=TEN_TO_TWO, time_zone="Europe/Madrid")
    entry = CampaignContact(zones="Europe/Madrid", time_zone="America/New_York")
    at, zone = callback_time(campaign=campaign, entry=entry, wanted=datetime(2026, 3, 3, 11, 0), now=MONDAY_9_UTC)
    assert (at, zone) == (utc(2026, 3, 3, 16, 0), "America/New_York")


@pytest.mark.parametrize(("wanted", "rules", "message"), [
    (datetime(2026, 3, 2, 9, 0), {}, "already passed"),
    (datetime(2026, 9, 1, 11, 0), {}, "up to 90 days"),
    (datetime(2026, 3, 5, 11, 0), {"ends_at": utc(2026, 3, 4, 0, 0)}, "after the campaign's end"),
])
def test_a_time_that_cannot_be_booked_is_refused_saying_why(wanted, rules, message):
    with pytest.raises(CallbackRefused, match=message):
        booking(wanted, **rules)


# ---- through the tool, with the database ----------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db  # the booking rule above needs no database


def campaign_call(**rules) -> Call:
    """A campaign call placed by the scheduler (FakeTwilio dials), its contact on the call."""
    campaign = campaign_of(madrid_contacts(1), start=timezone.now(), **rules)
    assert campaigns_pass(now=timezone.now()) == 1
    return Call.objects.get(campaign=campaign)


@pytestmark_db
def test_do_not_call_marks_the_contact_and_ends_its_campaign_runs(client, fake_twilio):
    call = campaign_call()
    other = campaign_of([call.contact], name="Autumn")  # a draft: waiting, not on a call
    answer = call_tool_run(call_id=call.pk, name="do_not_call", arguments={"quote": "No me llamen más."},
                           at_ms=12_345)
    assert answer["ok"] is True
    contact = call.contact
    contact.refresh_from_db()
    assert (contact.do_not_call, contact.do_not_call_quote, contact.do_not_call_at_ms, contact.do_not_call_call_id) \
        == (True, "No me llamen más.", 12_345, call.pk)
    waiting = CampaignContact.objects.get(campaign=other)
    assert (waiting.state, waiting.outcome) == (ContactState.DONE, Outcome.REFUSED)
    assert "No me llamen más." in waiting.reason
    assert entry_of_call(call).state == ContactState.CALLING  # still on the call: settled when it ends

    end_call(client, fake_twilio, call, "completed", duration=30)
    entry = entry_of_call(call)
    assert (entry.state, entry.outcome, entry.last_call_id) == (ContactState.DONE, Outcome.REFUSED, call.pk)


def entry_of_call(call: Call) -> CampaignContact:
    return CampaignContact.objects.get(campaign_id=call.campaign_id, contact_id=call.contact_id)


@pytestmark_db
def test_do_not_call_works_for_a_call_outside_campaigns(fake_twilio):
    call = place_call(phone_number="+34911000111")
    call_tool_run(call_id=call.pk, name="do_not_call", arguments={"quote": "Bórrenme."}, at_ms=800)
    call.contact.refresh_from_db()
    assert call.contact.do_not_call and call.contact.do_not_call_quote == "Bórrenme."
    assert call.contact.call_refusal() == "do_not_call"


@pytestmark_db
def test_a_callback_is_the_next_attempt_and_the_calls_end_does_not_settle_the_contact_as_done(client, fake_twilio):
    call = campaign_call()
    tomorrow = timezone.now().astimezone(ZoneInfo("Europe/Madrid")).date() + timedelta(days=1)
    answer = call_tool_run(call_id=call.pk, name="schedule_callback",
                           arguments={"date": tomorrow.isoformat(), "time": "11:30"}, at_ms=5000)
    assert answer == {"ok": True, "booked": f"{tomorrow.isoformat()} 11:30", "time_zone": "Europe/Madrid"}
    booked = datetime.combine(tomorrow, time(11, 30), tzinfo=ZoneInfo("Europe/Madrid"))
    assert entry_of_call(call).callback_at == booked

    end_call(client, fake_twilio, call, "completed", duration=30)
    entry = entry_of_call(call)
    assert (entry.state, entry.next_attempt_at, entry.outcome, entry.callback_at) == (
        ContactState.PENDING, booked, "", None)
    assert "11:30" in entry.reason


@pytestmark_db
def test_a_callback_outside_a_campaign_is_only_noted(fake_twilio):
    call = place_call(phone_number="+34911000111")
    answer = call_tool_run(call_id=call.pk, name="schedule_callback",
                           arguments={"date": "2030-01-02", "time": "10:00"}, at_ms=5000)
    assert answer == {"ok": True, "result": "Anotado: volver a llamar el 2030-01-02 10:00 (hora del cliente)."}


@pytestmark_db
@pytest.mark.parametrize("arguments", [{}, {"date": "mañana", "time": "10:00"}, {"date": "2030-01-02", "time": "25:00"}])
def test_bad_callback_arguments_answer_an_error_and_book_nothing(fake_twilio, arguments):
    call = campaign_call()
    answer = call_tool_run(call_id=call.pk, name="schedule_callback", arguments=arguments, at_ms=0)
    assert "YYYY-MM-DD" in answer["error"]
    assert entry_of_call(call).callback_at is None


@pytestmark_db
def test_a_callback_that_cannot_be_booked_leaves_the_contact_as_it_was(fake_twilio):
    call = campaign_call()
    answer = call_tool_run(call_id=call.pk, name="schedule_callback",
                           arguments={"date": "2020-01-02", "time": "10:00"}, at_ms=0)
    assert "already passed" in answer["error"]
    assert entry_of_call(call).callback_at is None


def test_a_next_step_clears_a_stale_callback():
    assert NextStep(state=ContactState.DONE).fields()["callback_at"] is None


@pytestmark_db
def test_the_contact_page_shows_what_the_callee_said_when_and_in_which_call(staff_user, client, fake_twilio):
    call = place_call(phone_number="+34911000111")
    call_tool_run(call_id=call.pk, name="do_not_call", arguments={"quote": "Bórrenme de la lista."}, at_ms=4321)
    client.force_login(staff_user)
    page = client.get(f"/admin/contacts/contact/{call.contact_id}/change/").content.decode()
    assert "Bórrenme de la lista." in page and "4321" in page
    assert f"/admin/calls/call/{call.pk}/change/" in page
