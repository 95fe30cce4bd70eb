"""Contact.call_refusal: the one answer to "may we call this contact?", asked by every door."""
import pytest

from calls.exceptions import CallRefused
from calls.services import place_call
from campaigns.models import Campaign, Outcome
from campaigns.services import campaign_create
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


def test_place_call_and_a_campaign_refuse_the_same_contacts(fake_twilio):
    may, dnc, rejected = ContactFactory(), ContactFactory(do_not_call=True), ContactFactory(number_invalid=True)
    campaign = campaign_create(campaign=Campaign(name="All"), contacts=Contact.objects.all())
    refused = campaign.entries.filter(outcome=Outcome.REFUSED)
    assert set(refused.values_list("contact_id", flat=True)) == {dnc.pk, rejected.pk}
    assert list(campaign.entries.filter(state="pending").values_list("contact_id", flat=True)) == [may.pk]
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


@pytest.mark.parametrize("number", ["+34803123456", "+34901123456", "+448712345678"])
def test_premium_rate_and_shared_cost_numbers_refuse_in_any_country(settings, number):
    settings.ALLOWED_CALL_COUNTRIES = ["*"]
    assert ContactFactory.build(phone_number=number).call_refusal() is CallRefusal.COSTLY_NUMBER


def test_a_country_outside_the_allow_list_refuses(settings):
    settings.ALLOWED_CALL_COUNTRIES = ["ES", "PT"]
    assert ContactFactory.build(phone_number="+351912345678").call_refusal() is None
    assert ContactFactory.build(phone_number="+14155552671").call_refusal() is CallRefusal.COUNTRY_NOT_ALLOWED
    settings.ALLOWED_CALL_COUNTRIES = ["*"]
    assert ContactFactory.build(phone_number="+14155552671").call_refusal() is None


def test_by_default_only_the_default_regions_country_may_be_called(settings):
    from django.conf import settings as loaded

    assert loaded.ALLOWED_CALL_COUNTRIES == [loaded.DEFAULT_PHONE_REGION]
    assert ContactFactory.build(phone_number="+442079460958").call_refusal() is CallRefusal.COUNTRY_NOT_ALLOWED


@pytest.mark.parametrize("number, reason", [
    ("+34803123456", "premium-rate or shared-cost"), ("+442079460958", "ALLOWED_CALL_COUNTRIES"),
])
def test_the_api_refuses_costly_and_foreign_numbers_with_the_reason_and_dials_nothing(
    api, fake_twilio, number, reason
):
    response = api.post("/api/calls/", {"phone_number": number}, format="json")
    assert response.status_code == 400 and reason in response.json()["detail"]
    assert fake_twilio.requests_to("POST", "/Calls.json") == []


def test_the_contacts_list_says_a_premium_number_cannot_be_called(admin_client_logged):
    ContactFactory(name="Eva", phone_number="+34803123456")
    html = admin_client_logged.get("/admin/contacts/contact/").content.decode()
    assert 'class="field-can_be_called">No: premium-rate or shared-cost number<' in html
