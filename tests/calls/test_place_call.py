"""calls.services.place_call against the fake Twilio REST server."""
from urllib.parse import urlsplit

import pytest

from calls.exceptions import CallNotNow, CallRefused, TwilioError, TwilioNotConfigured
from calls.models import Call, CallStatus, EndReason
from calls.services import place_call, stream_token_redeem
from contacts.models import Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_it_dials_and_stores_the_sid(fake_twilio):
    call = place_call(phone_number="600 123 456")
    sent = fake_twilio.last_call
    call.refresh_from_db()
    assert call.twilio_sid == sent.sid and call.status == CallStatus.QUEUED
    assert call.phone_number == sent.to == "+34600123456"
    assert sent.from_ == "+15005550006"
    assert call.contact.last_called_at is not None
    assert call.events.filter(kind="dialled").exists()


def test_it_creates_the_contact_for_a_new_number(fake_twilio):
    place_call(phone_number="0034600123456")
    assert Contact.objects.get().phone_number == "+34600123456"


def test_it_reuses_the_contact_of_a_known_number(fake_twilio):
    contact = ContactFactory(phone_number="+34600123456")
    call = place_call(phone_number="+34 600 123 456")
    assert call.contact == contact and Contact.objects.count() == 1


def test_the_twiml_streams_to_us_with_a_token_that_opens_this_call(fake_twilio):
    call = place_call(contact=ContactFactory())
    sent = fake_twilio.last_call
    assert urlsplit(sent.stream_url)[:3] == ("wss", "voicebot.example", f"/media-stream/{call.code}")
    assert stream_token_redeem(token=sent.token).pk == call.pk


def test_it_asks_for_status_callbacks_ring_timeout_and_time_limit(settings, fake_twilio):
    settings.RING_TIMEOUT, settings.CALL_DURATION_LIMIT, settings.CALL_TIME_LIMIT_GRACE = 25, 120, 30
    call = place_call(contact=ContactFactory())
    form = fake_twilio.last_call.form
    assert form["StatusCallback"] == [f"https://voicebot.example/twilio/status/{call.code}"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert form["Timeout"] == ["25"] and form["TimeLimit"] == ["150"]
    assert "MachineDetection" not in form


def test_it_sets_no_time_limit_when_the_limit_is_off(settings, fake_twilio):
    settings.CALL_DURATION_LIMIT = 0
    place_call(contact=ContactFactory())
    assert "TimeLimit" not in fake_twilio.last_call.form


def test_it_asks_for_async_amd_when_enabled(settings, fake_twilio):
    settings.AMD_MODE = "Enable"
    call = place_call(contact=ContactFactory())
    form = fake_twilio.last_call.form
    assert form["MachineDetection"] == ["Enable"] and form["AsyncAmd"] == ["true"]
    assert form["AsyncAmdStatusCallback"] == [f"https://voicebot.example/twilio/amd/{call.code}"]


def test_it_refuses_do_not_call_contacts_without_dialling(fake_twilio):
    with pytest.raises(CallRefused, match="do-not-call"):
        place_call(contact=ContactFactory(do_not_call=True))
    assert fake_twilio.requests == [] and Call.objects.count() == 0


@pytest.mark.parametrize("number", ["", None, "12", "+34 abc"])
def test_it_refuses_invalid_numbers(fake_twilio, number):
    with pytest.raises(CallRefused):
        place_call(phone_number=number)
    assert fake_twilio.requests == [] and Contact.objects.count() == 0


def test_it_refuses_contacts_whose_number_the_carrier_rejected(fake_twilio):
    with pytest.raises(CallRefused, match="rejected by the carrier"):
        place_call(contact=ContactFactory(number_invalid=True))
    assert fake_twilio.requests == []


def test_it_records_a_refused_dial_as_failed(fake_twilio):
    fake_twilio.unverified.add("+34600123456")
    with pytest.raises(TwilioError, match="Verify it in the Twilio console"):
        place_call(phone_number="+34600123456")
    call = Call.objects.get()
    assert (call.status, call.end_reason) == (CallStatus.FAILED, EndReason.DIAL_FAILED)
    assert "Verify it in the Twilio console" in call.error and call.ended_at is not None
    assert not call.contact.number_invalid


def test_it_marks_contact_invalid_on_21211(fake_twilio):
    # A number our parser accepts but Twilio refuses.
    fake_twilio.fail_next = (400, 21211, "Invalid 'To' Phone Number: +34600123456")
    with pytest.raises(TwilioError) as caught:
        place_call(phone_number="+34600123456")
    assert caught.value.code == 21211 and caught.value.permanent
    contact = Contact.objects.get()
    assert contact.number_invalid
    with pytest.raises(CallRefused):
        place_call(contact=contact)


def test_it_fails_clearly_when_twilio_is_not_configured(settings, fake_twilio):
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(TwilioNotConfigured, match="TWILIO_AUTH_TOKEN"):
        place_call(phone_number="+34600123456")
    assert Call.objects.count() == 0 and fake_twilio.requests == []


def test_it_never_logs_secrets(fake_twilio, caplog):
    caplog.set_level("DEBUG")
    place_call(phone_number="+34600123456")
    token = fake_twilio.last_call.token
    assert fake_twilio.last_call.sid in caplog.text
    assert token not in caplog.text and fake_twilio.auth_token not in caplog.text


def test_the_task_places_a_call_by_contact_id(fake_twilio, q_sync):
    from django_q.tasks import async_task

    contact = ContactFactory()
    async_task("calls.tasks.place_call", contact.pk)
    assert Call.objects.get().contact == contact
    assert fake_twilio.last_call.to == contact.phone_number


def test_the_fake_hands_a_media_client_what_twilio_would_send(fake_twilio):
    call = place_call(contact=ContactFactory())
    url, headers, parameters = fake_twilio.stream_handshake(call.twilio_sid)
    assert url == f"wss://voicebot.example/media-stream/{call.code}"
    assert headers["X-Twilio-Signature"] and stream_token_redeem(token=parameters["token"]).pk == call.pk


def test_a_mistyped_amd_mode_fails_loudly_before_dialling(settings, fake_twilio):
    settings.AMD_MODE = "enable"
    with pytest.raises(TwilioNotConfigured, match="AMD_MODE"):
        place_call(phone_number="+34600123456")
    assert fake_twilio.requests == [] and Call.objects.count() == 0


def test_it_refuses_a_number_already_on_a_call_whatever_door_placed_it(fake_twilio):
    contact = ContactFactory()
    place_call(contact=contact)
    with pytest.raises(CallNotNow, match="is on another call right now"):
        place_call(phone_number=str(contact.phone_number))
    assert Call.objects.count() == 1 and len(fake_twilio.calls) == 1


def test_a_number_whose_call_ended_can_be_called_again(fake_twilio):
    contact = ContactFactory()
    Call.objects.filter(pk=place_call(contact=contact).pk).update(status=CallStatus.NO_ANSWER)
    place_call(contact=contact)
    assert len(fake_twilio.calls) == 2


def test_max_concurrent_calls_counts_every_live_call(settings, fake_twilio):
    settings.MAX_CONCURRENT_CALLS = 2
    first = place_call(contact=ContactFactory())
    place_call(contact=ContactFactory())
    with pytest.raises(CallNotNow, match="MAX_CONCURRENT_CALLS"):
        place_call(contact=ContactFactory())
    assert len(fake_twilio.calls) == 2
    Call.objects.filter(pk=first.pk).update(status=CallStatus.COMPLETED)
    place_call(contact=ContactFactory())
    assert len(fake_twilio.calls) == 3
