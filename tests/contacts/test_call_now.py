"""The contact page's "Call now" button: one call at once through place_call, as staff with their roles, against the
fake Twilio REST server."""
import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import translation

from calls.models import Call, CallStatus
from tests.conftest import role_group
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db
BUTTON = 'class="object-tools-button call-now-button"'


def _page(contact) -> str:
    return f"/admin/contacts/contact/{contact.pk}/change/"


def _call_now(contact) -> str:
    return f"/admin/contacts/contact/{contact.pk}/call-now/"


@pytest.fixture
def agent(django_user_model) -> Client:
    user = django_user_model.objects.create_user("agent", "agent@example.com", "pw-agent", is_staff=True)
    user.groups.add(role_group("Agents"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def supervisor(client, staff_user) -> Client:
    client.force_login(staff_user)
    return client


def _messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def test_an_agent_sees_the_button_on_a_contacts_page(agent):
    contact = ContactFactory()
    html = agent.get(_page(contact)).content.decode()
    assert BUTTON in html and f'action="{_call_now(contact)}"' in html
    assert 'name="csrfmiddlewaretoken"' in html[html.index(_call_now(contact)):]


def test_an_agent_places_one_call_and_lands_on_its_live_page(agent, fake_twilio):
    contact = ContactFactory(phone_number="+34600123456", name="Ana")

    response = agent.post(_call_now(contact))

    call = Call.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/calls/call/{call.pk}/change/"
    assert len(fake_twilio.calls) == 1 and fake_twilio.last_call.to == "+34600123456"
    assert call.contact == contact and call.twilio_sid == fake_twilio.last_call.sid
    assert _messages(response) == [("success", "Calling Ana (+34600123456)…")]
    entry = LogEntry.objects.get(object_id=str(call.pk))
    assert entry.user.username == "agent" and entry.action_flag == ADDITION
    assert entry.change_message == "Placed with Call now in the admin."
    page = agent.get(response["Location"]).content.decode()
    assert 'id="live-call"' in page  # the call is under way: its page follows it live


def test_a_supervisor_may_call_now_too(supervisor, fake_twilio):
    contact = ContactFactory()
    response = supervisor.post(_call_now(contact))
    assert response["Location"] == f"/admin/calls/call/{Call.objects.get().pk}/change/"
    assert fake_twilio.last_call.to == contact.phone_number


def _refused(client, contact, fake_twilio, lead: str = "No call placed to") -> str:
    """POST Call now, check nothing was dialled and the contact's page stays; its one error message."""
    response = client.post(_call_now(contact))
    assert response.status_code == 302 and response["Location"] == _page(contact)
    assert fake_twilio.calls == {}
    [(level, text)] = _messages(response)
    assert level == "error" and text.startswith(f"{lead} {contact}: ")
    return text


@pytest.mark.parametrize(("fields", "reason"), [
    ({"do_not_call": True}, "is on the do-not-call list"),
    ({"number_invalid": True}, "was rejected by the carrier as invalid"),
    ({"phone_number": "+34 12"}, "is not a valid phone number"),
])
def test_a_contact_that_may_not_be_called_is_refused(agent, fake_twilio, fields, reason):
    contact = ContactFactory(**fields)
    assert reason in _refused(agent, contact, fake_twilio)
    assert Call.objects.count() == 0


def test_a_number_on_another_call_is_refused(agent, fake_twilio):
    contact = ContactFactory()
    CallFactory(contact=contact, status=CallStatus.IN_PROGRESS)
    assert "is on another call right now" in _refused(agent, contact, fake_twilio)
    assert Call.objects.count() == 1


def test_too_many_calls_under_way_is_refused(agent, fake_twilio, settings):
    settings.MAX_CONCURRENT_CALLS = 1
    CallFactory(status=CallStatus.RINGING)
    assert "MAX_CONCURRENT_CALLS" in _refused(agent, ContactFactory(), fake_twilio)
    assert Call.objects.count() == 1


def test_twilio_not_configured_is_refused(agent, fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    assert "TWILIO_AUTH_TOKEN" in _refused(agent, ContactFactory(), fake_twilio)
    assert Call.objects.count() == 0 and fake_twilio.requests == []


def test_a_twilio_error_is_shown_and_the_failed_dial_kept_in_the_history(agent, fake_twilio):
    fake_twilio.fail_next = (503, 20503, "Service unavailable")
    contact = ContactFactory()
    assert "Service unavailable" in _refused(agent, contact, fake_twilio)
    assert Call.objects.get().status == CallStatus.FAILED


def test_the_button_says_why_a_do_not_call_contact_cannot_be_called(agent):
    contact = ContactFactory(do_not_call=True)
    html = agent.get(_page(contact)).content.decode()
    assert "Cannot call: do not call" in html and "disabled" in html[html.index(BUTTON):]
    assert _call_now(contact) not in html


def test_get_is_refused(agent, fake_twilio):
    response = agent.get(_call_now(ContactFactory()))
    assert response.status_code == 405 and fake_twilio.requests == []


def test_staff_without_place_call_get_403_and_no_button(client, django_user_model, fake_twilio):
    user = django_user_model.objects.create_user("viewer", "viewer@example.com", "pw-viewer", is_staff=True)
    role = role_group("Agents")
    user.user_permissions.add(*role.permissions.exclude(codename="place_call"))
    client.force_login(user)
    contact = ContactFactory()

    page = client.get(_page(contact))
    response = client.post(_call_now(contact))

    assert page.status_code == 200 and BUTTON not in page.content.decode()
    assert response.status_code == 403 and fake_twilio.requests == [] and Call.objects.count() == 0


def test_a_user_who_cannot_see_contacts_gets_403(client, staff_without_role, fake_twilio):
    staff_without_role.user_permissions.add(*role_group("Agents").permissions.filter(codename="place_call"))
    client.force_login(staff_without_role)
    response = client.post(_call_now(ContactFactory()))
    assert response.status_code == 403 and fake_twilio.requests == []


@pytest.fixture
def spanish(settings):
    """A deployment with LANGUAGE_CODE=es, as tests/test_translations.py sets it."""
    settings.LANGUAGE_CODE = "es"
    yield
    translation.deactivate()


def test_a_spanish_deployment_tells_staff_why_a_do_not_call_contact_was_not_called(agent, fake_twilio, spanish):
    contact = ContactFactory(name="Ana", phone_number="+34600123456", do_not_call=True)
    assert _refused(agent, contact, fake_twilio, lead="No se ha hecho ninguna llamada a") == (
        "No se ha hecho ninguna llamada a Ana (+34600123456): +34600123456 está en la lista de no llamar.")


def test_a_spanish_deployment_tells_staff_the_number_is_on_another_call(agent, fake_twilio, spanish):
    contact = ContactFactory(name="Luis", phone_number="+34600123457")
    CallFactory(contact=contact, status=CallStatus.IN_PROGRESS)
    assert _refused(agent, contact, fake_twilio, lead="No se ha hecho ninguna llamada a").endswith(
        ": +34600123457 está en otra llamada ahora mismo; vuelva a intentarlo cuando termine.")
