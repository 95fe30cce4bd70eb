"""Webhooks out, end to end: an endpoint added in the admin of a real Daphne, a call placed with /make_call, and
the real qcluster worker delivering call.completed and call.processed to a receiver that checks each signature
with README's recipe, while a second endpoint that never answers holds nothing up."""
import asyncio
import re

import pytest

from tests.e2e import test_full_call as full_call
from tests.e2e.test_full_call import EXTRACTED, NUMBER, System, _staff_session
from tests.fakes.webhook_receiver import Answer, WebhookReceiver
from simulator.polling import async_wait_for

pytestmark = pytest.mark.slow

SECRET = "whsec_e2e-receiver"
system = full_call.system  # the deployment fixture: Daphne, the worker, the fakes


def _add_endpoint(deployment: System, url: str, secret: str) -> None:
    session = _staff_session(deployment)
    form = session.get(f"{deployment.url}/admin/webhooks/endpoint/add/", timeout=10)
    assert form.status_code == 200
    response = session.post(f"{deployment.url}/admin/webhooks/endpoint/add/", timeout=10, data={
        "url": url, "events": ["call.completed", "call.processed"], "active": "on", "description": "e2e",
        "secret": secret, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert re.search(r"/admin/webhooks/endpoint/$", response.url), response.text[:2000]


# The receivers listen on 127.0.0.1: the deployment opts in to receivers on its own network.
@pytest.mark.parametrize("system", [{"env": {"WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true"}}], indirect=True)
async def test_the_worker_delivers_signed_events_of_a_real_call_and_a_dead_receiver_holds_nothing_up(system):
    with WebhookReceiver(secret=SECRET) as receiver, WebhookReceiver(secret="whsec_dead") as dead:
        dead.answers = [Answer(hang=True)] * 10
        await asyncio.to_thread(_add_endpoint, system, dead.url, "whsec_dead")
        await asyncio.to_thread(_add_endpoint, system, receiver.url, SECRET)

        response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": NUMBER}, timeout=60)
        assert response.status_code == 200, response.text
        sid = response.json()["call_sid"]
        assert response.json()["call_status"] == "completed"

        def events() -> list[str] | None:
            got = [request.json()["event"] for request in receiver.received]
            return got if {"call.completed", "call.processed"} <= set(got) else None

        await async_wait_for(events, timeout=90, interval=0.5, what="both events to reach the receiver")
        assert all(request.verified for request in receiver.received)
        by_event = {request.json()["event"]: request.json() for request in receiver.received}
        assert by_event["call.completed"]["call_sid"] == sid and by_event["call.completed"]["call_status"] == "completed"
        processed = by_event["call.processed"]
        assert processed["call_sid"] == sid and processed["extracted_info"] == EXTRACTED
        assert processed["processing_status"] == "done" and "Client: " in processed["conversation"]
        assert dead.received, "the dead receiver was tried too, by the worker"
