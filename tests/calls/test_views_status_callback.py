"""POST /twilio/status and /twilio/amd, signed by the fake exactly as Twilio signs them."""
import shutil

import pytest
import yaml
from django.test import Client

from calls.models import Call, CallStatus, EndReason
from calls.services import place_call
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def placed(fake_twilio) -> Call:
    return place_call(contact=ContactFactory())


def _reload(call: Call) -> Call:
    call.refresh_from_db()
    return call


def test_it_walks_a_call_through_its_states(client, fake_twilio, placed):
    hooks = fake_twilio.status_callbacks(placed.twilio_sid, ["initiated", "ringing", "in-progress"])
    for hook in hooks:
        assert hook.post(client).status_code == 200
    call = _reload(placed)
    assert call.status == CallStatus.IN_PROGRESS and call.answered_at is not None
    fake_twilio.status_callback(placed.twilio_sid, "completed", duration=42).post(client)
    call = _reload(placed)
    assert (call.status, call.duration) == (CallStatus.COMPLETED, 42.0) and call.ended_at is not None
    assert list(call.events.filter(kind="status").values_list("detail__status", flat=True)) == [
        "initiated", "ringing", "in-progress", "completed"
    ]


def test_it_refuses_a_forged_signature(client, fake_twilio, placed):
    hook = fake_twilio.status_callback(placed.twilio_sid, "completed", duration=5)
    hook.signature = "AAAA" + hook.signature[4:]
    assert hook.post(client).status_code == 403
    assert _reload(placed).status == CallStatus.QUEUED


def test_it_refuses_a_missing_signature(client, fake_twilio, placed):
    hook = fake_twilio.status_callback(placed.twilio_sid, "completed")
    response = client.post(hook.path, hook.body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 403 and _reload(placed).status == CallStatus.QUEUED


def test_it_refuses_tampered_params(client, fake_twilio, placed):
    hook = fake_twilio.status_callback(placed.twilio_sid, "ringing")
    hook.params["CallStatus"] = "completed"
    assert hook.post(client).status_code == 403


def test_it_checks_the_signature_against_the_public_url_not_the_host(client, fake_twilio, placed):
    # Signed for the URL Twilio called; we are reached as "testserver" behind the proxy and must still accept it.
    hook = fake_twilio.status_callback(placed.twilio_sid, "ringing")
    assert hook.url.startswith("https://voicebot.example/")
    assert hook.post(client).status_code == 200
    other = fake_twilio.sign("http://testserver/twilio/status", hook.params)
    assert other.post(client).status_code == 403


def test_it_accepts_only_post(client, fake_twilio):
    assert client.get("/twilio/status").status_code == 405


def test_a_replayed_callback_is_refused_and_changes_nothing(client, fake_twilio, placed):
    ringing = fake_twilio.status_callback(placed.twilio_sid, "ringing")
    assert ringing.post(client).status_code == 200
    events = placed.events.count()
    assert ringing.post(client).status_code == 403
    call = _reload(placed)
    assert call.status == CallStatus.RINGING and call.events.count() == events


def test_a_late_callback_never_seen_is_accepted_but_ignored(client, fake_twilio, placed):
    ringing = fake_twilio.status_callback(placed.twilio_sid, "ringing", sequence_number=1)
    answered = fake_twilio.status_callback(placed.twilio_sid, "in-progress", sequence_number=2)
    assert answered.post(client).status_code == 200
    assert ringing.post(client).status_code == 200
    assert _reload(placed).status == CallStatus.IN_PROGRESS


def test_out_of_order_callbacks_never_move_backwards(client, fake_twilio, placed):
    initiated, ringing, answered, completed = fake_twilio.status_callbacks(
        placed.twilio_sid, ["initiated", "ringing", "in-progress", "completed"], duration=30
    )
    for hook in (completed, ringing, answered, initiated):
        assert hook.post(client).status_code == 200
    call = _reload(placed)
    assert (call.status, call.duration) == (CallStatus.COMPLETED, 30.0)
    assert call.events.filter(kind="status").count() == 1
    assert call.answered_at is not None  # derived from the duration, the "answered" callback came too late


def test_a_final_state_is_final_even_with_a_higher_sequence(client, fake_twilio, placed):
    fake_twilio.status_callback(placed.twilio_sid, "busy").post(client)
    fake_twilio.status_callback(placed.twilio_sid, "in-progress").post(client)
    assert _reload(placed).status == CallStatus.BUSY


@pytest.mark.parametrize(
    "status,reason",
    [("busy", EndReason.NOT_ANSWERED), ("no-answer", EndReason.NOT_ANSWERED), ("failed", EndReason.DIAL_FAILED),
     ("canceled", "")],
)
def test_it_records_unanswered_outcomes_as_such(client, fake_twilio, placed, status, reason):
    fake_twilio.status_callback(placed.twilio_sid, "ringing").post(client)
    fake_twilio.status_callback(placed.twilio_sid, status).post(client)
    call = _reload(placed)
    assert (call.status, call.end_reason) == (status, reason)
    assert call.ended_at is not None and call.answered_at is None


def test_an_unknown_call_sid_gets_200_so_twilio_does_not_retry(client, fake_twilio, placed, caplog):
    hook = fake_twilio.status_callback(placed.twilio_sid, "ringing")
    hook = fake_twilio.sign(hook.url, {**hook.params, "CallSid": "CA" + "0" * 32})
    assert hook.post(client).status_code == 200
    assert "unknown sid=CA" + "0" * 32 in caplog.text
    assert _reload(placed).status == CallStatus.QUEUED


def test_an_unknown_call_status_is_refused(client, fake_twilio, placed):
    hook = fake_twilio.status_callback(placed.twilio_sid, "exploded")
    assert hook.post(client).status_code == 400


PROCESSED: list[int] = []


def record_processing(call_id: int) -> None:
    """Stands in for extraction.tasks.process_call, run inline by django-q2."""
    PROCESSED.append(call_id)


def test_a_final_state_with_a_recording_enqueues_processing(
    client, fake_twilio, placed, monkeypatch, q_sync, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("extraction.services.PROCESS_CALL_TASK", f"{__name__}.record_processing")
    PROCESSED.clear()
    Call.objects.filter(pk=placed.pk).update(recording="recordings/x.wav")
    with django_capture_on_commit_callbacks(execute=True):
        fake_twilio.status_callback(placed.twilio_sid, "completed", duration=3).post(client)
    assert PROCESSED == [placed.pk]


def test_a_final_state_without_a_recording_enqueues_nothing(
    client, fake_twilio, placed, monkeypatch, q_sync, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("extraction.services.PROCESS_CALL_TASK", f"{__name__}.record_processing")
    PROCESSED.clear()
    with django_capture_on_commit_callbacks(execute=True):
        fake_twilio.status_callback(placed.twilio_sid, "completed", duration=3).post(client)
    assert PROCESSED == []


def test_a_final_state_with_a_recording_shows_processing_as_queued(
    client, fake_twilio, placed, monkeypatch, q_sync, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("extraction.services.PROCESS_CALL_TASK", f"{__name__}.record_processing")
    Call.objects.filter(pk=placed.pk).update(recording="recordings/x.wav")
    with django_capture_on_commit_callbacks(execute=True):
        response = fake_twilio.status_callback(placed.twilio_sid, "completed", duration=3).post(client)
    assert response.status_code == 200 and _reload(placed).status == CallStatus.COMPLETED
    assert _reload(placed).processing["status"] == "queued"


# --- AMD ---


@pytest.fixture
def amd_call(settings, fake_twilio) -> Call:
    settings.AMD_MODE = "DetectMessageEnd"
    call = place_call(contact=ContactFactory())
    fake_twilio.status_callback(call.twilio_sid, "in-progress")
    return call


def test_a_machine_is_hung_up_on_by_default(client, fake_twilio, amd_call):
    assert fake_twilio.amd_callback(amd_call.twilio_sid, "machine_end_beep").post(client).status_code == 200
    call = _reload(amd_call)
    assert call.answered_by == "machine_end_beep" and call.end_reason == EndReason.VOICEMAIL
    assert fake_twilio.calls[call.twilio_sid].hung_up


def test_a_machine_gets_the_voicemail_message_from_ai_files(settings, client, fake_twilio, amd_call, tmp_path):
    shutil.copytree(settings.AI_CONFIG_DIR, tmp_path / "AI")
    agent = tmp_path / "AI" / "prompts" / "agent.yaml"
    prompts = yaml.safe_load(agent.read_text(encoding="utf-8"))
    agent.write_text(yaml.safe_dump({**prompts, "voicemail": "Le llamaremos de nuevo."}), encoding="utf-8")
    settings.AMD_ACTION, settings.AI_CONFIG_DIR = "voicemail", str(tmp_path / "AI")
    fake_twilio.amd_callback(amd_call.twilio_sid, "fax").post(client)
    fake = fake_twilio.calls[amd_call.twilio_sid]
    assert not fake.hung_up
    assert "<Say" in fake.twiml_updates[0] and "Le llamaremos de nuevo." in fake.twiml_updates[0]
    assert "<Hangup" in fake.twiml_updates[0]


def test_the_voicemail_message_fills_in_the_callees_name(settings, client, fake_twilio, amd_call, tmp_path):
    shutil.copytree(settings.AI_CONFIG_DIR, tmp_path / "AI")
    agent = tmp_path / "AI" / "prompts" / "agent.yaml"
    prompts = yaml.safe_load(agent.read_text(encoding="utf-8"))
    agent.write_text(yaml.safe_dump({**prompts, "voicemail": "Hola {{contact.name}}, le llamaremos."}), encoding="utf-8")
    settings.AMD_ACTION, settings.AI_CONFIG_DIR = "voicemail", str(tmp_path / "AI")
    amd_call.contact.name = "Ana"
    amd_call.contact.save()
    fake_twilio.amd_callback(amd_call.twilio_sid, "machine_end_beep").post(client)
    assert "Hola Ana, le llamaremos." in fake_twilio.calls[amd_call.twilio_sid].twiml_updates[0]


def test_a_human_is_left_to_talk(client, fake_twilio, amd_call):
    fake_twilio.amd_callback(amd_call.twilio_sid, "human").post(client)
    fake = fake_twilio.calls[amd_call.twilio_sid]
    assert not fake.hung_up and fake.twiml_updates == []
    assert _reload(amd_call).answered_by == "human"


def test_a_replayed_amd_callback_acts_once(client, fake_twilio, amd_call):
    hook = fake_twilio.amd_callback(amd_call.twilio_sid, "machine_start")
    hook.post(client)
    hook.post(client)
    assert len(fake_twilio.requests_to("POST", f"/Calls/{amd_call.twilio_sid}.json")) == 1


def test_a_forged_amd_callback_is_refused(client, fake_twilio, amd_call):
    hook = fake_twilio.amd_callback(amd_call.twilio_sid, "machine_start")
    hook.params["AnsweredBy"] = "human"
    assert hook.post(client).status_code == 403
    assert _reload(amd_call).answered_by == ""


@pytest.mark.django_db(transaction=True)
def test_a_callback_that_beats_the_dials_answer_is_applied(fake_twilio):
    # Twilio's callbacks race its answer to the dial: the call's own URL finds it before its SID is saved.
    fake_twilio.send_before_answering(["ringing", "failed"], lambda hook: hook.post(Client()).status_code)
    call = _reload(place_call(contact=ContactFactory()))
    assert fake_twilio.early_results == [200, 200]
    assert call.twilio_sid == fake_twilio.last_call.sid
    assert (call.status, call.end_reason) == (CallStatus.FAILED, EndReason.DIAL_FAILED)
    assert list(call.events.values_list("kind", flat=True)).count("dialled") == 1


def test_the_shared_status_url_still_serves_calls_placed_before(client, fake_twilio, placed):
    params = fake_twilio.status_callback(placed.twilio_sid, "ringing").params
    assert fake_twilio.sign("https://voicebot.example/twilio/status", params).post(client).status_code == 200
    assert _reload(placed).status == CallStatus.RINGING


def test_a_calls_own_url_never_gives_it_another_calls_sid(client, fake_twilio, placed):
    other = place_call(contact=ContactFactory())
    params = fake_twilio.status_callback(other.twilio_sid, "busy").params
    hook = fake_twilio.sign(f"https://voicebot.example/twilio/status/{placed.code}", params)
    assert hook.post(client).status_code == 200
    assert (_reload(placed).status, _reload(placed).twilio_sid) == (CallStatus.QUEUED, placed.twilio_sid)
    assert _reload(other).status == CallStatus.BUSY


def test_an_amd_result_that_beats_the_dials_answer_finds_its_call(client, fake_twilio):
    call = CallFactory(twilio_sid=None)
    hook = fake_twilio.sign(f"https://voicebot.example/twilio/amd/{call.code}", {
        "CallSid": "CA" + "7" * 32, "AccountSid": fake_twilio.account_sid, "AnsweredBy": "human"})
    assert hook.post(client).status_code == 200
    call.refresh_from_db()
    assert (call.twilio_sid, call.answered_by) == ("CA" + "7" * 32, "human")
