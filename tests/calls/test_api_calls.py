"""/api/calls/: start a call (202), read it, hang it up."""
import pytest
from rest_framework.test import APIClient

from calls.models import Call, CallStatus, EndReason
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_it_starts_a_call_by_number_and_answers_at_once(api, fake_twilio):
    response = api.post("/api/calls/", {"phone_number": "600123456"}, format="json")
    assert response.status_code == 202
    assert response.data["call_sid"] == fake_twilio.last_call.sid
    assert response.data["status"] == "queued" and response.data["phone_number"] == "+34600123456"


def test_it_starts_a_call_for_a_contact(api, fake_twilio):
    contact = ContactFactory()
    response = api.post("/api/calls/", {"contact_id": contact.pk}, format="json")
    assert response.status_code == 202 and response.data["contact_id"] == contact.pk
    assert fake_twilio.last_call.to == contact.phone_number


def test_an_unknown_contact_is_404(api, fake_twilio):
    assert api.post("/api/calls/", {"contact_id": 999}, format="json").status_code == 404


def test_it_needs_a_number_or_a_contact(api, fake_twilio):
    response = api.post("/api/calls/", {}, format="json")
    assert response.status_code == 400 and "phone_number or contact_id" in response.data["detail"]


def test_it_refuses_do_not_call(api, fake_twilio):
    contact = ContactFactory(do_not_call=True)
    response = api.post("/api/calls/", {"contact_id": contact.pk}, format="json")
    assert response.status_code == 400 and "do-not-call" in response.data["detail"]
    assert fake_twilio.requests == []


def test_twilio_refusals_come_back_as_detail(api, fake_twilio):
    fake_twilio.unverified.add("+34600123456")
    response = api.post("/api/calls/", {"phone_number": "+34600123456"}, format="json")
    assert response.status_code == 400 and response.data["code"] == 21219
    assert "Verify it in the Twilio console" in response.data["detail"]


def test_missing_credentials_are_503(settings, api, fake_twilio):
    settings.PUBLIC_BASE_URL = ""
    response = api.post("/api/calls/", {"phone_number": "+34600123456"}, format="json")
    assert response.status_code == 503 and "PUBLIC_BASE_URL" in response.data["detail"]


def test_it_shows_a_call(api):
    call = CallFactory(status=CallStatus.RINGING)
    response = api.get(f"/api/calls/{call.twilio_sid}/")
    assert response.status_code == 200
    assert (response.data["call_sid"], response.data["status"]) == (call.twilio_sid, "ringing")
    assert api.get("/api/calls/CAnope/").status_code == 404


def test_it_hangs_up_a_live_call(api, client, fake_twilio):
    sid = api.post("/api/calls/", {"phone_number": "+34600123456"}, format="json").data["call_sid"]
    fake_twilio.status_callback(sid, "in-progress").post(client)
    response = api.post(f"/api/calls/{sid}/hangup/")
    assert response.status_code == 202
    assert fake_twilio.calls[sid].hung_up
    fake_twilio.status_callback(sid, "completed", duration=7).post(client)
    call = Call.objects.get(twilio_sid=sid)
    assert (call.status, call.end_reason) == (CallStatus.COMPLETED, EndReason.STAFF_HANGUP)


def test_hanging_up_an_ended_call_changes_nothing(api, fake_twilio):
    call = CallFactory(status=CallStatus.COMPLETED)
    assert api.post(f"/api/calls/{call.twilio_sid}/hangup/").status_code == 202
    assert fake_twilio.requests == []


def test_hanging_up_a_call_twilio_already_ended_takes_twilios_word(api, fake_twilio):
    sid = api.post("/api/calls/", {"phone_number": "+34600123456"}, format="json").data["call_sid"]
    fake_twilio.set_state(sid, status="no-answer")
    response = api.post(f"/api/calls/{sid}/hangup/")
    assert response.status_code == 202 and response.data["status"] == "no-answer"


@pytest.mark.parametrize("path", ["/api/calls/", "/api/calls/CA1/", "/api/calls/CA1/hangup/"])
def test_the_api_is_staff_only(client, plain_user, path, fake_twilio):
    api = APIClient()
    api.force_authenticate(plain_user)
    assert api.post(path, {"phone_number": "+34600123456"}, format="json").status_code == 403
    assert fake_twilio.requests == []
