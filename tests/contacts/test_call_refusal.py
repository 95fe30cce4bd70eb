"""Contact.call_refusal: the one answer to "may we call this contact?", asked by every door."""
import pytest

from calls.exceptions import CallRefused
from calls.services import call_batch_plan, place_call
from contacts.models import CallRefusal, Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_a_plain_contact_may_be_called():
    assert ContactFactory.build().call_refusal() is None


def test_do_not_call_refuses():
    assert ContactFactory.build(do_not_call=True).call_refusal() is CallRefusal.DO_NOT_CALL


def test_a_number_the_carrier_rejected_refuses():
    assert ContactFactory.build(number_invalid=True).call_refusal() is CallRefusal.NUMBER_INVALID


def test_a_stored_number_that_is_not_a_phone_number_refuses():
    assert ContactFactory.build(phone_number="12").call_refusal() is CallRefusal.BAD_NUMBER


def test_do_not_call_wins_over_every_other_reason():
    contact = ContactFactory.build(phone_number="12", do_not_call=True, number_invalid=True)
    assert contact.call_refusal() is CallRefusal.DO_NOT_CALL


def test_place_call_and_the_batch_plan_refuse_the_same_contacts(fake_twilio):
    may, dnc, rejected = ContactFactory(), ContactFactory(do_not_call=True), ContactFactory(number_invalid=True)
    plan = call_batch_plan(contacts=Contact.objects.all())
    assert plan.contact_ids == [may.pk] and (plan.do_not_call, plan.number_invalid) == (1, 1)
    for contact in (dnc, rejected):
        with pytest.raises(CallRefused):
            place_call(contact=contact)
    assert fake_twilio.requests_to("POST", "/Calls.json") == []


def test_the_contacts_list_says_why_a_contact_cannot_be_called(admin_client_logged):
    ContactFactory(name="Ana"), ContactFactory(name="Bea", do_not_call=True)
    ContactFactory(name="Cai", number_invalid=True), ContactFactory(name="Dan", phone_number="12")
    html = admin_client_logged.get("/admin/contacts/contact/").content.decode()
    cells = html.split('class="field-can_be_called">')[1:]
    assert sorted(cell.split("<", 1)[0] for cell in cells) == [
        "No: do not call", "No: not a valid phone number", "No: number rejected by carrier", "Yes",
    ]
