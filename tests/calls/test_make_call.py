"""POST /make_call: the prototype's blocking door, driven through the ASGI stack while Twilio's callbacks arrive."""
import asyncio

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.test import AsyncClient, Client
from rest_framework.authtoken.models import Token

from calls.models import Call, CallStatus
from calls.services import call_notify_final, call_wait_final
from calls.services.streaming import call_stream_finished
from calls.exceptions import CallWaitTimeout
from tests.factories import CallFactory, ContactFactory
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "+34600123456"


@pytest.fixture
async def staff_client(staff_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(staff_user)
    return client


async def _post(client: AsyncClient, body: dict, **extra):
    # Each request in its own thread-sensitive context, as Django's ASGIHandler (under Daphne) runs it.
    async with ThreadSensitiveContext():
        return await client.post("/make_call", body, content_type="application/json", **extra)


async def _deliver(hook) -> int:
    async with ThreadSensitiveContext():
        return (await hook.apost(AsyncClient())).status_code


async def _dialled(fake_twilio):
    return await async_wait_for(lambda: fake_twilio.calls and fake_twilio.last_call, what="the call to be placed")


async def test_it_blocks_until_the_call_ends_and_wakes_on_the_final_callback(
    settings, monkeypatch, staff_client, fake_twilio
):
    settings.MAKE_CALL_TIMEOUT = 20
    # Only the channel-layer message can wake it in time: the database re-check is pushed out of reach.
    monkeypatch.setattr("calls.services.waiting.RECHECK_SECONDS", 30)
    request = asyncio.create_task(_post(staff_client, {"phone_number": "600 123 456"}))
    sent = await _dialled(fake_twilio)
    for hook in fake_twilio.status_callbacks(sent.sid, ["initiated", "ringing", "in-progress"]):
        assert await _deliver(hook) == 200
    await asyncio.sleep(0.3)
    assert not request.done()
    assert await _deliver(fake_twilio.status_callback(sent.sid, "completed", duration=12)) == 200
    response = await asyncio.wait_for(request, 5)
    assert response.status_code == 200
    assert response.json() == {
        "call_sid": sent.sid, "phone_number": NUMBER, "call_status": "completed", "stream_sid": None,
        "call_duration": 12.0, "audio_file_name": None,
    }


async def test_it_answers_busy_calls_too(staff_client, fake_twilio):
    request = asyncio.create_task(_post(staff_client, {"phone_number": NUMBER}))
    sent = await _dialled(fake_twilio)
    await _deliver(fake_twilio.status_callback(sent.sid, "busy"))
    response = await asyncio.wait_for(request, 5)
    assert response.json()["call_status"] == "busy"


async def test_a_failure_reported_before_the_dials_answer_ends_the_wait(settings, staff_client, fake_twilio):
    # Twilio's `failed` can arrive before its answer to the dial request: it must not be lost (and end in 408).
    settings.MAKE_CALL_TIMEOUT = 5
    fake_twilio.send_before_answering(["failed"], lambda hook: hook.post(Client()).status_code)
    response = await asyncio.wait_for(_post(staff_client, {"phone_number": NUMBER}), 10)
    assert fake_twilio.early_results == [200]
    assert response.status_code == 200
    assert response.json()["call_status"] == "failed" and response.json()["call_sid"] == fake_twilio.last_call.sid


async def test_it_times_out_with_the_prototype_shape(settings, staff_client, fake_twilio):
    settings.MAKE_CALL_TIMEOUT = 1
    response = await asyncio.wait_for(_post(staff_client, {"phone_number": NUMBER}), 5)
    assert response.status_code == 408
    assert response.json() == {"error": "Call result timeout", "call_sid": fake_twilio.last_call.sid}


async def test_beyond_max_waiters_it_answers_503_at_once_and_places_no_call(settings, staff_client, fake_twilio):
    settings.MAKE_CALL_MAX_WAITERS = 1
    first = asyncio.create_task(_post(staff_client, {"phone_number": NUMBER}))
    sent = await _dialled(fake_twilio)
    refused = await asyncio.wait_for(_post(staff_client, {"phone_number": "+34600123457"}), 5)
    assert refused.status_code == 503 and "MAKE_CALL_MAX_WAITERS" in refused.json()["error"]
    assert refused.headers["Retry-After"]
    assert len(fake_twilio.calls) == 1
    await _deliver(fake_twilio.status_callback(sent.sid, "busy"))
    assert (await asyncio.wait_for(first, 5)).json()["call_status"] == "busy"
    # The slot is free again once the first waiter has its answer.
    again = asyncio.create_task(_post(staff_client, {"phone_number": "+34600123457"}))
    second = await async_wait_for(lambda: len(fake_twilio.calls) == 2 and fake_twilio.last_call, what="a 2nd call")
    await _deliver(fake_twilio.status_callback(second.sid, "no-answer"))
    assert (await asyncio.wait_for(again, 5)).json()["call_status"] == "no-answer"


async def test_it_refuses_anonymous_and_non_staff_users(fake_twilio, plain_user):
    anonymous = await _post(AsyncClient(), {"phone_number": NUMBER})
    async with ThreadSensitiveContext():
        drf = await AsyncClient().post("/api/calls/", {"phone_number": NUMBER}, content_type="application/json")
    # Exactly what DRF's own views answer (401 with a WWW-Authenticate challenge when token auth comes first).
    assert anonymous.status_code == drf.status_code in (401, 403)
    assert anonymous.headers.get("WWW-Authenticate") == drf.headers.get("WWW-Authenticate")
    client = AsyncClient()
    await client.aforce_login(plain_user)
    assert (await _post(client, {"phone_number": NUMBER})).status_code == 403
    assert fake_twilio.requests == []


async def test_it_accepts_a_staff_token(fake_twilio, staff_user):
    token = await sync_to_async(Token.objects.create)(user=staff_user)
    response = await _post(AsyncClient(), {}, headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 400 and "phone number is required" in response.json()["detail"]


@pytest.mark.parametrize("body", [{}, {"phone_number": ""}, {"phone_number": "12"}, {"phone_number": "abc"}])
async def test_it_refuses_missing_and_invalid_numbers(staff_client, fake_twilio, body):
    response = await _post(staff_client, body)
    assert response.status_code == 400 and response.json()["detail"]
    assert fake_twilio.requests == []


async def test_it_refuses_do_not_call_contacts(staff_client, fake_twilio):
    await sync_to_async(ContactFactory)(phone_number=NUMBER, do_not_call=True)
    response = await _post(staff_client, {"phone_number": NUMBER})
    assert response.status_code == 400 and "do-not-call" in response.json()["detail"]
    assert fake_twilio.requests == []


async def test_it_passes_twilio_refusals_on_as_error(staff_client, fake_twilio):
    fake_twilio.unverified.add(NUMBER)
    response = await _post(staff_client, {"phone_number": NUMBER})
    assert response.status_code == 400 and "Verify it in the Twilio console" in response.json()["error"]


async def test_bad_twilio_credentials_are_a_gateway_error(settings, staff_client, fake_twilio):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    response = await _post(staff_client, {"phone_number": NUMBER})
    assert response.status_code == 502 and "TWILIO_AUTH_TOKEN" in response.json()["error"]


async def test_missing_credentials_are_503(settings, staff_client, fake_twilio):
    settings.TWILIO_ACCOUNT_SID = ""
    response = await _post(staff_client, {"phone_number": NUMBER})
    assert response.status_code == 503 and "TWILIO_ACCOUNT_SID" in response.json()["error"]


@pytest.mark.parametrize("body", [{}, {"phone_number": "12"}])
async def test_a_bad_request_is_a_400_before_the_twilio_setup_is_checked(settings, staff_client, fake_twilio, body):
    settings.TWILIO_ACCOUNT_SID = ""
    response = await _post(staff_client, body)
    assert response.status_code == 400 and "phone number" in response.json()["detail"]
    assert fake_twilio.requests == []


async def test_waiting_returns_at_once_for_a_call_already_final(fake_twilio):
    call = await sync_to_async(CallFactory)(status=CallStatus.COMPLETED)
    assert (await asyncio.wait_for(call_wait_final(call=call, timeout=5), 1)).status == CallStatus.COMPLETED


async def test_waiting_notices_a_final_state_written_by_another_process(monkeypatch, fake_twilio):
    # No channel message at all (another process without a shared layer): the database re-check still finds it.
    monkeypatch.setattr("calls.services.waiting.RECHECK_SECONDS", 0.1)
    call = await sync_to_async(CallFactory)()
    waiter = asyncio.create_task(call_wait_final(call=call, timeout=5))
    await asyncio.sleep(0.2)
    await Call.objects.filter(pk=call.pk).aupdate(status=CallStatus.NO_ANSWER)
    assert (await asyncio.wait_for(waiter, 2)).status == CallStatus.NO_ANSWER


async def test_waiting_raises_on_timeout(fake_twilio):
    call = await sync_to_async(CallFactory)()
    with pytest.raises(CallWaitTimeout):
        await call_wait_final(call=call, timeout=0.2)


async def test_the_wait_itself_holds_no_thread(staff_client, fake_twilio):
    # Without a ThreadSensitiveContext every sync step of every request shares ONE thread; the callbacks still get
    # through while /make_call waits, so the view's wait is pure asyncio with the project's real middleware.
    request = asyncio.create_task(
        staff_client.post("/make_call", {"phone_number": NUMBER}, content_type="application/json")
    )
    sent = await _dialled(fake_twilio)
    response = await fake_twilio.status_callback(sent.sid, "no-answer").apost(AsyncClient())
    assert response.status_code == 200
    assert (await asyncio.wait_for(request, 3)).json()["call_status"] == "no-answer"


async def test_waiting_holds_the_answer_until_the_streams_recording_lands(monkeypatch, fake_twilio):
    # Twilio's final callback can beat the end of the media stream: the answer still carries the recording.
    monkeypatch.setattr("calls.services.waiting.RECHECK_SECONDS", 30)
    monkeypatch.setattr("calls.services.waiting.SETTLE_RECHECK_SECONDS", 30)  # only the layer can wake it in time
    monkeypatch.setattr("extraction.services.async_task", lambda *args, **kwargs: None)  # no post-call processing
    call = await sync_to_async(CallFactory)(stream_sid="MZ" + "1" * 32)
    waiter = asyncio.create_task(call_wait_final(call=call, timeout=20))
    await asyncio.sleep(0.2)
    await Call.objects.filter(pk=call.pk).aupdate(status=CallStatus.COMPLETED)
    await sync_to_async(call_notify_final)(call=call)
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await sync_to_async(call_stream_finished)(call_id=call.pk, end_reason="bot_hangup", recording_name="rec/a.wav")
    assert (await asyncio.wait_for(waiter, 2)).recording.name == "rec/a.wav"


async def test_waiting_for_a_streams_recording_is_bounded(monkeypatch, fake_twilio):
    monkeypatch.setattr("calls.services.waiting.STREAM_SETTLE_SECONDS", 0.3)
    call = await sync_to_async(CallFactory)(stream_sid="MZ" + "1" * 32, status=CallStatus.COMPLETED)
    result = await asyncio.wait_for(call_wait_final(call=call, timeout=20), 2)
    assert result.status == CallStatus.COMPLETED and not result.recording.name
