"""voicebot_site.api_errors: every API door answers a domain error the same way, in its protocol's shape."""
import pytest

from calls.exceptions import CallError, CallRefused, CallWaitTimeout, TwilioError, TwilioNotConfigured
from calls.selectors import InvalidCallFilter
from contacts.phones import InvalidPhoneNumber
from contacts.services import ContactError
from voicebot_site.api_errors import error_status, make_call_error_response

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("error", "status"), [
    (CallRefused("no"), 400),
    (ContactError("no"), 400),
    (InvalidPhoneNumber("12", "too short"), 400),
    (InvalidCallFilter("bad date"), 400),
    (CallError("no"), 400),
    (TwilioNotConfigured("set it"), 503),
    (CallWaitTimeout("late"), 408),
    (TwilioError("bad number", code=21211, permanent=True, status=400), 400),
    (TwilioError("down", code=20500, permanent=False, status=503), 502),
    (ValueError("a bug"), None),
])
def test_each_domain_error_has_one_status(error, status):
    assert error_status(error) == status


def test_bad_credentials_are_our_setup_not_the_callers_request(settings, api, fake_twilio):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    response = api.post("/api/calls/", {"phone_number": "600123456"}, format="json")
    assert response.status_code == 502 and response.data["code"] == 20003
    assert "TWILIO_AUTH_TOKEN" in response.data["detail"]


def test_a_field_error_names_the_field_and_a_form_error_does_not(api, fake_twilio):
    response = api.post("/api/calls/", {"contact_id": "x"}, format="json")
    assert response.status_code == 400 and response.data == {"detail": "contact_id: A valid integer is required."}
    response = api.post("/api/calls/", {}, format="json")
    assert response.data == {"detail": "Give phone_number or contact_id."}


def test_make_call_answers_in_the_prototypes_shapes():
    refused = make_call_error_response(CallRefused("+34600 is on the do-not-call list."))
    assert (refused.status_code, refused.content) == (400, b'{"detail": "+34600 is on the do-not-call list."}')
    late = make_call_error_response(CallWaitTimeout("late"), call_sid="CA1")
    assert (late.status_code, late.content) == (408, b'{"error": "Call result timeout", "call_sid": "CA1"}')
    down = make_call_error_response(TwilioNotConfigured("Twilio is not configured."))
    assert (down.status_code, down.content) == (503, b'{"error": "Twilio is not configured."}')
