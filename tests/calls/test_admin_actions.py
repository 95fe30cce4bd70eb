"""The staff doors for ending calls: "Hang up", and the live status column ("Call selected contacts" makes a
campaign: tests/campaigns/test_admin.py)."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from calls.models import Call, CallStatus
from calls.services import place_call
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db

CALLS_URL = "/admin/calls/call/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


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
