"""The staff doors for placing and ending calls: "Call selected contacts", "Hang up", and the live status column."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from calls.models import Call, CallStatus
from calls.services import batches, place_call
from contacts.models import Contact
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db

CONTACTS_URL = "/admin/contacts/contact/"
CALLS_URL = "/admin/calls/call/"


@pytest.fixture(autouse=True)
def _fast_pace(settings):
    settings.CALLS_PER_SECOND = 1000


def call_contacts(client, contacts, *, confirm: bool, url: str = CONTACTS_URL, **extra):
    data = {"action": "call_contacts", "index": 0, ACTION_CHECKBOX_NAME: [c.pk for c in contacts], **extra}
    if confirm:
        data["confirm"] = "yes"
    return client.post(url, data, follow=confirm)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_calling_contacts_asks_for_confirmation_first(admin_client_logged, fake_twilio):
    callable_ = [ContactFactory(), ContactFactory()]
    barred = ContactFactory(do_not_call=True)
    response = call_contacts(admin_client_logged, [*callable_, barred], confirm=False)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>2</strong> contacts will be called" in html
    assert "Skipped 1 contact(s): 1 on the do-not-call list" in html
    assert str(callable_[0].phone_number) in html and 'name="confirm" value="yes"' in html
    assert fake_twilio.requests == [] and get_broker().queue_size() == 0


def test_confirming_dials_the_callable_contacts_and_says_who_was_skipped(admin_client_logged, fake_twilio, q_sync):
    good = [ContactFactory(), ContactFactory()]
    barred = [ContactFactory(do_not_call=True), ContactFactory(number_invalid=True)]
    response = call_contacts(admin_client_logged, [*good, *barred], confirm=True)
    assert sorted(call.to for call in fake_twilio.calls.values()) == sorted(c.phone_number for c in good)
    shown = messages_of(response)
    assert any(message.startswith("Queued 2 calls, 1000 per second") for message in shown)
    assert ("Skipped 2 contact(s): 1 on the do-not-call list, 1 with a number the carrier rejected or that is not "
            "valid, premium-rate, or in a country not allowed.") in shown
    assert Call.objects.filter(contact__in=barred).count() == 0


def test_the_calls_are_queued_as_one_paced_task_not_placed_in_the_request(admin_client_logged, fake_twilio):
    contacts = [ContactFactory(), ContactFactory(), ContactFactory(do_not_call=True)]
    call_contacts(admin_client_logged, contacts, confirm=True)
    assert fake_twilio.requests == []
    [(_, payload)] = get_broker().dequeue()
    task = SignedPackage.loads(payload)
    assert task["func"] == "calls.tasks.place_call_batch"
    assert task["args"][:2] == ([contacts[0].pk, contacts[1].pk], 1000)


def test_select_all_across_pages_keeps_the_lists_filter(admin_client_logged, fake_twilio, q_sync):
    named = [ContactFactory(name="Target One"), ContactFactory(name="Target Two")]
    ContactFactory(name="Someone else")
    url = CONTACTS_URL + "?q=Target"
    confirmation = call_contacts(admin_client_logged, named[:1], confirm=False, url=url, select_across=1)
    assert "<strong>2</strong> contacts will be called" in confirmation.content.decode()
    call_contacts(admin_client_logged, named[:1], confirm=True, url=url, select_across=1)
    assert sorted(call.to for call in fake_twilio.calls.values()) == sorted(c.phone_number for c in named)


def test_calling_without_twilio_settings_says_what_is_missing(admin_client_logged, fake_twilio, settings):
    settings.PUBLIC_BASE_URL = ""
    response = call_contacts(admin_client_logged, [ContactFactory()], confirm=True)
    assert any("PUBLIC_BASE_URL" in message for message in messages_of(response))
    assert get_broker().queue_size() == 0


def test_a_batch_is_paced_and_chained_in_short_tasks(fake_twilio, q_sync, monkeypatch):
    monkeypatch.setattr(batches, "BATCH_SECONDS", 0.1)  # 2 calls per task at 20 per second
    contacts = [ContactFactory() for _ in range(5)]
    plan = batches.call_batch_plan(contacts=Contact.objects.all())
    batches.call_batch_enqueue(plan=plan, calls_per_second=20)
    assert [call.to for call in fake_twilio.calls.values()] == [c.phone_number for c in contacts]
    created = list(Call.objects.order_by("created_at").values_list("created_at", flat=True))
    within_a_task = [(created[i + 1] - created[i]).total_seconds() for i in (0, 2)]
    assert all(gap >= 0.04 for gap in within_a_task), within_a_task


def test_a_retried_batch_task_calls_nobody_twice(fake_twilio, q_sync):
    contacts = [ContactFactory(), ContactFactory()]
    plan = batches.call_batch_plan(contacts=Contact.objects.all())
    started = timezone.now()
    assert batches.call_batch_place(contact_ids=plan.contact_ids, calls_per_second=1000, since=started) == 2
    assert batches.call_batch_place(contact_ids=plan.contact_ids, calls_per_second=1000, since=started) == 0
    assert len(fake_twilio.calls) == 2 == len(contacts)


def test_hang_up_ends_live_calls_at_twilio(admin_client_logged, fake_twilio):
    live = place_call(contact=ContactFactory())
    ended = CallFactory(status=CallStatus.COMPLETED)
    response = admin_client_logged.post(
        CALLS_URL, {"action": "hang_up", "index": 0, ACTION_CHECKBOX_NAME: [live.pk, ended.pk]}, follow=True
    )
    assert fake_twilio.calls[live.twilio_sid].hung_up
    shown = messages_of(response)
    assert f"Hung up {live.phone_number} ({live.twilio_sid})." in shown
    assert "1 selected call(s) had already ended." in shown


def test_hang_up_reports_twilio_errors(admin_client_logged, fake_twilio):
    live = place_call(contact=ContactFactory())
    fake_twilio.fail_next = (503, 20503, "Service unavailable")
    response = admin_client_logged.post(
        CALLS_URL, {"action": "hang_up", "index": 0, ACTION_CHECKBOX_NAME: [live.pk]}, follow=True
    )
    [message] = messages_of(response)
    assert message.startswith(f"Could not hang up {live.phone_number}: Twilio is unavailable")


def test_live_calls_show_a_self_refreshing_status(admin_client_logged):
    ringing = CallFactory(status=CallStatus.RINGING)
    done = CallFactory(status=CallStatus.COMPLETED, duration=65)
    html = admin_client_logged.get(CALLS_URL).content.decode()
    assert f'data-live-call="{ringing.pk}"' in html and f'data-live-call="{done.pk}"' not in html
    assert "calls/live_status.js" in html
    Call.objects.filter(pk=ringing.pk).update(status=CallStatus.IN_PROGRESS)
    response = admin_client_logged.get(CALLS_URL + "live-status/", {"ids": f"{ringing.pk},{done.pk},x"})
    assert response.json()["calls"] == {
        str(ringing.pk): {"status": "in-progress", "label": "In progress", "final": False, "duration": "–",
                          "end_reason": "-", "answered_by": "-"},
        str(done.pk): {"status": "completed", "label": "Completed", "final": True, "duration": "1:05",
                       "end_reason": "-", "answered_by": "-"},
    }


def test_the_live_status_is_for_staff_only(client, plain_user):
    call = CallFactory(status=CallStatus.RINGING)
    assert client.get(CALLS_URL + "live-status/", {"ids": call.pk}).status_code == 302
    client.force_login(plain_user)
    assert client.get(CALLS_URL + "live-status/", {"ids": call.pk}).status_code == 302
