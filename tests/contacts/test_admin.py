"""The contacts CRM in the admin: list, search, filters, the form, call history, actions and export."""
import csv
import io

import pytest
from django.core.files.base import ContentFile

from contacts.models import Contact
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/contacts/contact/"


def test_it_lists_contacts_with_import_and_export_buttons(admin_client_logged):
    ContactFactory(phone_number="+34600123456", name="Ana")
    html = admin_client_logged.get(CHANGELIST).content.decode()
    assert "+34600123456" in html and "Ana" in html
    assert 'href="/admin/contacts/contact/import/"' in html
    assert 'href="/admin/contacts/contact/export/' in html


@pytest.mark.parametrize("typed", ["600 123 456", "0034600123456", "Ana", "600123"])
def test_it_finds_a_contact_however_the_number_is_typed(admin_client_logged, typed):
    ContactFactory(phone_number="+34600123456", name="Ana")
    ContactFactory(phone_number="+34911222333", name="Luis")
    response = admin_client_logged.get(CHANGELIST, {"q": typed})
    assert list(response.context["cl"].result_list.values_list("phone_number", flat=True)) == ["+34600123456"]


def test_it_filters_by_do_not_call_and_by_call_history(admin_client_logged):
    called = ContactFactory(name="Called")
    CallFactory(contact=called)
    ContactFactory(name="Blocked", do_not_call=True)

    def names(params):
        response = admin_client_logged.get(CHANGELIST, params)
        return sorted(response.context["cl"].result_list.values_list("name", flat=True))

    assert names({"do_not_call__exact": "1"}) == ["Blocked"]
    assert names({"called": "yes"}) == ["Called"]
    assert names({"called": "no"}) == ["Blocked"]


def test_it_shows_the_call_history_read_only_with_links_to_each_call(admin_client_logged):
    contact = ContactFactory()
    calls = CallFactory.create_batch(2, contact=contact, status="completed")

    html = admin_client_logged.get(f"{CHANGELIST}{contact.pk}/change/").content.decode()

    assert "Call history" in html
    links = [html.index(f'href="/admin/calls/call/{call.pk}/change/"') for call in reversed(calls)]
    assert links == sorted(links)  # newest first
    assert 'name="calls-0-status"' not in html  # read-only
    assert 'name="calls-0-DELETE"' not in html


def test_it_stores_the_number_in_e164_when_staff_type_it_loosely(admin_client_logged):
    response = admin_client_logged.post(
        f"{CHANGELIST}add/", {"phone_number": "600 12 34 56", "name": "Ana", "comments": "", **_no_inline()}
    )
    assert response.status_code == 302
    assert Contact.objects.get().phone_number == "+34600123456"


def test_it_explains_why_a_number_is_refused(admin_client_logged):
    response = admin_client_logged.post(f"{CHANGELIST}add/", {"phone_number": "600 12", "name": "Ana", **_no_inline()})
    assert response.status_code == 200
    assert "is not a valid phone number: too short" in response.content.decode()
    assert not Contact.objects.exists()


def test_it_refuses_a_number_already_stored_in_another_form(admin_client_logged):
    ContactFactory(phone_number="+34600123456")
    response = admin_client_logged.post(f"{CHANGELIST}add/", {"phone_number": "0034 600 123 456", **_no_inline()})
    assert "already exists" in response.content.decode()
    assert Contact.objects.count() == 1


def test_it_marks_and_unmarks_contacts_as_do_not_call(admin_client_logged):
    first, second = ContactFactory.create_batch(2)
    admin_client_logged.post(CHANGELIST, {"action": "mark_do_not_call", "_selected_action": [first.pk, second.pk]})
    assert set(Contact.objects.values_list("do_not_call", flat=True)) == {True}

    response = admin_client_logged.post(
        CHANGELIST, {"action": "allow_calls", "_selected_action": [first.pk]}, follow=True
    )
    first.refresh_from_db()
    assert not first.do_not_call
    assert "1 contact(s) can be called again." in response.content.decode()


@pytest.mark.parametrize("format_index, check", [
    ("0", lambda content: b"PK" == content[:2]),
    ("1", lambda content: ["+34600123456", "'=1+1"] in list(csv.reader(io.StringIO(content.decode())))),
    ("2", lambda content: content == b"+34600123456"),
])
def test_it_exports_from_the_admin_with_formulas_escaped(admin_client_logged, format_index, check):
    ContactFactory(phone_number="+34600123456", name="=1+1")
    response = admin_client_logged.post(f"{CHANGELIST}export/", {
        "format": format_index, "resource": "0",
        "contactresource_phone_number": "on", "contactresource_name": "on",
    })
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert check(response.content)


def _no_inline() -> dict:
    return {
        "calls-TOTAL_FORMS": "0", "calls-INITIAL_FORMS": "0", "calls-MIN_NUM_FORMS": "0", "calls-MAX_NUM_FORMS": "0",
    }


def test_it_deletes_recordings_with_the_contact(admin_client_logged, django_capture_on_commit_callbacks):
    call = CallFactory()
    call.recording.save("call.wav", ContentFile(b"RIFF"), save=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged.post(
            CHANGELIST, {"action": "delete_selected", "_selected_action": [call.contact.pk], "post": "yes"}
        )

    assert response.status_code == 302
    assert not Contact.objects.exists()
    assert not call.recording.storage.exists(call.recording.name)
