"""calls.twilio_client against the fake Twilio REST server over a real socket."""
from xml.etree import ElementTree as ET

import pytest

from calls import twilio_client
from calls.exceptions import TwilioError, TwilioNotConfigured

CODE = "6f1c0b8e-2a4d-4c1e-9b7a-0d3e5f6a7b8c"  # a call's code: its stream URL's last segment

def _create(**overrides):
    kwargs = dict(
        to="+34600111222", from_="+15005550006",
        twiml=twilio_client.twilio_stream_twiml(stream_url=f"wss://voicebot.example/media-stream/{CODE}", token="tok"),
        status_callback_url="https://voicebot.example/twilio/status", timeout=30, time_limit=150,
        machine_detection=None, amd_callback_url=None,
    )
    return twilio_client.twilio_calls_create(**{**kwargs, **overrides})


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PHONE_NUMBER_FROM", "PUBLIC_BASE_URL"])
def test_it_names_the_missing_setting_when_used(settings, fake_twilio, missing):
    setattr(settings, missing, "")
    with pytest.raises(TwilioNotConfigured, match=missing):
        _create()


def test_it_builds_stream_twiml_with_a_token_parameter():
    twiml = twilio_client.twilio_stream_twiml(stream_url=f"wss://h.example/media-stream/{CODE}", token='a"<b')
    root = ET.fromstring(twiml)
    stream = root.find("./Connect/Stream")
    assert root.tag == "Response"
    assert stream.get("url") == f"wss://h.example/media-stream/{CODE}"
    assert [(p.get("name"), p.get("value")) for p in stream.findall("Parameter")] == [("token", 'a"<b')]


def test_it_creates_a_call_with_basic_auth_and_twilio_form_fields(fake_twilio):
    state = _create(machine_detection="DetectMessageEnd", amd_callback_url="https://voicebot.example/twilio/amd")
    request = fake_twilio.requests_to("POST", "/Calls.json")[0]
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Calls.json"
    assert request.one("To") == "+34600111222" and request.one("From") == "+15005550006"
    assert request.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert request.one("StatusCallbackMethod") == "POST"
    assert (request.one("Timeout"), request.one("TimeLimit")) == ("30", "150")
    assert request.one("MachineDetection") == "DetectMessageEnd" and request.one("AsyncAmd") == "true"
    assert request.one("AsyncAmdStatusCallback") == "https://voicebot.example/twilio/amd"
    assert state.sid.startswith("CA") and len(state.sid) == 34 and state.status == "queued"


def test_it_omits_time_limit_and_amd_when_off(fake_twilio):
    _create(time_limit=None)
    request = fake_twilio.requests_to("POST", "/Calls.json")[0]
    assert "TimeLimit" not in request.form and "MachineDetection" not in request.form


def test_it_explains_an_unverified_number_on_a_trial_account(fake_twilio):
    fake_twilio.unverified.add("+34600111222")
    with pytest.raises(TwilioError) as caught:
        _create()
    assert caught.value.code == 21219 and caught.value.permanent
    assert "Verify it in the Twilio console" in caught.value.message


def test_it_reports_an_invalid_to_as_permanent(fake_twilio):
    with pytest.raises(TwilioError) as caught:
        _create(to="12345")
    assert caught.value.code == 21211 and caught.value.permanent
    assert "not a valid phone number" in caught.value.message


def test_it_explains_bad_credentials(settings, fake_twilio):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(TwilioError) as caught:
        _create()
    assert caught.value.code == 20003
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in caught.value.message


def test_it_treats_5xx_as_not_permanent(fake_twilio):
    fake_twilio.fail_next = (503, 20500, "Internal Server Error")
    with pytest.raises(TwilioError) as caught:
        _create()
    assert not caught.value.permanent and caught.value.status == 503


def test_it_treats_an_unreachable_api_as_not_permanent(settings, fake_twilio):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(TwilioError) as caught:
        _create()
    assert not caught.value.permanent


def test_it_hangs_up_fetches_and_updates_a_live_call(fake_twilio):
    sid = _create().sid
    twilio_client.twilio_calls_say_and_hangup(sid=sid, text="Adiós", language="es-ES")
    update = ET.fromstring(fake_twilio.calls[sid].twiml_updates[0])
    assert update.find("Say").text == "Adiós" and update.find("Say").get("language") == "es-ES"
    assert update.find("Hangup") is not None
    twilio_client.twilio_calls_hangup(sid=sid)
    assert fake_twilio.requests_to("POST", f"/Calls/{sid}.json")[-1].one("Status") == "completed"
    assert twilio_client.twilio_calls_fetch(sid=sid).status == "completed"


def test_it_validates_signatures_with_the_auth_token(fake_twilio):
    hook = fake_twilio.sign("https://voicebot.example/twilio/status", {"CallSid": "CA1", "CallStatus": "ringing"})
    assert twilio_client.twilio_request_is_valid(url=hook.url, params=hook.params, signature=hook.signature)
    assert not twilio_client.twilio_request_is_valid(url=hook.url, params={**hook.params, "CallStatus": "busy"},
                                                     signature=hook.signature)
    assert not twilio_client.twilio_request_is_valid(url=hook.url, params=hook.params, signature="")


def test_the_stream_url_follows_public_base_url_and_its_handshake_signature_checks(settings, fake_twilio):
    code, other = CODE, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    settings.PUBLIC_BASE_URL = "https://voicebot.example/"
    assert twilio_client.twilio_stream_url(call_code=code) == f"wss://voicebot.example/media-stream/{code}"
    signature = fake_twilio.sign(f"wss://voicebot.example/media-stream/{code}", {}).signature
    assert twilio_client.twilio_request_is_valid(url=twilio_client.twilio_stream_url(call_code=code), params={},
                                                 signature=signature)
    # A signature opens its own call's stream only.
    assert not twilio_client.twilio_request_is_valid(url=twilio_client.twilio_stream_url(call_code=other), params={},
                                                     signature=signature)
    settings.PUBLIC_BASE_URL = "http://localhost:6060"
    assert twilio_client.twilio_stream_url(call_code=code) == f"ws://localhost:6060/media-stream/{code}"


def test_it_names_an_invalid_to_by_its_meaning(fake_twilio):
    with pytest.raises(TwilioError) as caught:
        _create(to="12345")
    assert caught.value.is_invalid_number
    assert not (caught.value.is_not_found or caught.value.is_auth_failure or caught.value.is_call_not_live)


def test_it_names_bad_credentials_by_their_meaning(settings, fake_twilio):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(TwilioError) as caught:
        _create()
    assert caught.value.is_auth_failure and not caught.value.is_invalid_number


def test_it_names_an_unknown_call_by_its_meaning(fake_twilio):
    with pytest.raises(TwilioError) as caught:
        twilio_client.twilio_calls_fetch(sid="CA" + "0" * 32)
    assert caught.value.is_not_found and not caught.value.is_call_not_live


def test_it_names_changing_an_ended_call_by_its_meaning(fake_twilio):
    sid = _create().sid
    twilio_client.twilio_calls_hangup(sid=sid)
    with pytest.raises(TwilioError) as caught:
        twilio_client.twilio_calls_say_and_hangup(sid=sid, text="Adiós", language="es-ES")
    assert caught.value.is_call_not_live and not caught.value.is_not_found


def test_a_network_failure_means_none_of_the_named_problems(settings, fake_twilio):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(TwilioError) as caught:
        _create()
    error = caught.value
    assert not (error.is_invalid_number or error.is_not_found or error.is_auth_failure or error.is_call_not_live)
