"""Scaled out: two Daphne processes and a django-q2 worker on one database, as behind a proxy in production.

Black box through real sockets: a contact written through one web process is read through the other, Twilio's
callbacks land on the process that is *not* holding `POST /make_call` and still wake it, and the worker picks the
post-call job that a web process queued. `make test` runs it on SQLite; `make test-scale` on PostgreSQL + Redis
(tests/processes.Stack then gives the processes a private database and Redis prefix), where it also checks that
the waiting request subscribed through Redis rather than only polling the database.
"""
import json
import threading

import pytest
import requests

from tests.extraction.sounds import VOICES, call_wav
from simulator.openai_rest import OpenAIRestFake
from simulator.twilio import FakeTwilio
from simulator.polling import wait_for
from tests.processes import Stack

PUBLIC_BASE_URL = "https://voicebot.example"
NUMBER = "+34600123456"

# What the media-stream consumer leaves behind during a call (the relay itself is other tests' business).
ATTACH_RECORDING = """
from django.core.files.base import ContentFile
from calls.models import Call
call = Call.objects.get(twilio_sid={sid!r})
call.recording.save(call.twilio_sid + ".wav", ContentFile(open({wav!r}, "rb").read()), save=True)
print(call.code)
"""


@pytest.fixture
def world(tmp_path):
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio, OpenAIRestFake(
        voices=dict(VOICES), chat_answer={"place": "Madrid", "budget": 1000}
    ) as openai:
        stack = Stack(tmp_path, extra_env={
            **twilio.voicebot_env(), "OPENAI_BASE_URL": openai.base_url, "OPENAI_API_KEY": openai.api_key,
            "TRANSCRIPT_SOURCE": "openai", "Q_WORKERS": "1", "MAKE_CALL_TIMEOUT": "60",
        })
        try:
            stack.prepare()
            yield stack, twilio
        finally:
            stack.stop_all()


def _api(stack: Stack, port: int, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"http://127.0.0.1:{port}{path}", timeout=70,
                            headers={"Authorization": f"Token {stack.token}"}, **kwargs)


def _fetch_call(stack: Stack, sid: str) -> dict | None:
    with stack.connect() as conn:
        row = conn.execute("SELECT processing, extracted_data FROM calls_call WHERE twilio_sid = '%s'" % sid).fetchone()
    # PostgreSQL hands JSON columns back decoded, SQLite as text.
    return {"processing": _json(row[0]), "extracted_data": _json(row[1])} if row else None


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _redis_waiters(stack: Stack, code: str) -> int:
    import redis

    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    try:
        return client.zcard(f"{stack.env['REDIS_PREFIX']}:asgi:group:call-{code}")
    finally:
        client.close()


@pytest.mark.slow
def test_two_web_processes_and_a_worker_share_one_deployment(world, tmp_path):
    stack, twilio = world
    web_a, web_b = stack.start_daphne(), stack.start_daphne()
    stack.start_worker()

    created = _api(stack, web_a, "POST", "/api/users", json={"phone_number": "600 123 456", "name": "Ana"})
    assert created.status_code == 201, created.text
    assert _api(stack, web_b, "GET", f"/api/users/{NUMBER}").json()["name"] == "Ana"

    answer: dict = {}
    waiting = threading.Thread(target=lambda: answer.update(
        response=_api(stack, web_a, "POST", "/make_call", json={"phone_number": NUMBER})))
    waiting.start()
    sent = wait_for(lambda: twilio.calls and twilio.last_call, timeout=30, what="the call to be dialled")
    (tmp_path / "call.wav").write_bytes(call_wav())
    code = stack.manage("shell", "-c", ATTACH_RECORDING.format(sid=sent.sid, wav=str(tmp_path / "call.wav"))).stdout.split()[-1]
    if stack.env.get("REDIS_URL"):
        wait_for(lambda: _redis_waiters(stack, code), timeout=10,
                 what="/make_call to subscribe to the call's Redis group")

    for hook in twilio.status_callbacks(sent.sid, ["initiated", "ringing", "in-progress", "completed"], duration=9):
        assert hook.post_http(f"http://127.0.0.1:{web_b}").status_code == 200
    waiting.join(timeout=30)

    assert answer["response"].status_code == 200, answer["response"].text
    assert answer["response"].json()["call_status"] == "completed"
    done = wait_for(lambda: (_fetch_call(stack, sent.sid) or {}).get("processing", {}).get("status")
                     in ("done", "failed") and _fetch_call(stack, sent.sid), timeout=90, what="the worker to process the call")
    assert done["processing"]["status"] == "done", (done, stack.logs())
    assert done["extracted_data"]["place"] == "Madrid"


@pytest.mark.slow
def test_a_failure_that_beats_the_dials_answer_reaches_make_call_on_another_process(world):
    # Twilio's callbacks race its answer to the dial: here `ringing` and `failed` land on the other web process
    # before the dial request returns, so the call has no SID yet when they arrive.
    stack, twilio = world
    web_a, web_b = stack.start_daphne(), stack.start_daphne()
    twilio.send_before_answering(["ringing", "failed"],
                                 lambda hook: hook.post_http(f"http://127.0.0.1:{web_b}").status_code)
    response = _api(stack, web_a, "POST", "/make_call", json={"phone_number": NUMBER})
    assert twilio.early_results == [200, 200]
    assert response.status_code == 200, (response.text, stack.logs())
    assert response.json()["call_status"] == "failed" and response.json()["call_sid"] == twilio.last_call.sid
