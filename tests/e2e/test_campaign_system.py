"""A campaign end to end: real Daphne, two real `qcluster` workers running the scheduled campaign task, FakeTwilio
with simulated phones (one answers, one is busy first and answers the retry, one never answers), all driven through
the REST API as an integrator would."""
import asyncio

import pytest

from tests.e2e.test_full_call import NUMBER, system  # noqa: F401  (the deployment fixture)
from tests.polling import async_wait_for

pytestmark = pytest.mark.slow

BUSY_FIRST, NEVER = "+34600111333", "+34600111444"
RULES = {"window": {"days": [0, 1, 2, 3, 4, 5, 6], "hours": [["00:00", "24:00"]]}, "max_in_flight": 2,
         "calls_per_second": 1, "max_attempts": 2, "retry_delays": {"busy": 60, "no_answer": 60}}


async def test_a_campaign_retries_settles_everyone_and_completes(system):  # noqa: F811
    system.stack.start_worker()  # a second worker: two schedulers may pass at once
    await asyncio.to_thread(system.stack.manage, "setup_schedules")
    system.phones.behaviour.update({BUSY_FIRST: "busy", NEVER: "no-answer"})
    numbers = [NUMBER, BUSY_FIRST, NEVER]
    campaign = (await asyncio.to_thread(system.post, "/api/campaigns/",
                                        {"name": "System", "phone_numbers": numbers, **RULES})).json()
    assert (await asyncio.to_thread(system.post, f"/api/campaigns/{campaign['id']}/start/", {})).status_code == 200

    async def busy_once() -> bool:
        return any(o.to == BUSY_FIRST and o.ended_by == "busy" for o in system.phones.outcomes.values())

    await async_wait_for(busy_once, timeout=90, interval=0.5, what="the first, busy attempt")
    system.phones.behaviour[BUSY_FIRST] = "answer"

    async def completed() -> dict | None:
        body = (await asyncio.to_thread(system.get, f"/api/campaigns/{campaign['id']}/")).json()
        return body if body["state"] == "completed" else None

    body = await async_wait_for(completed, timeout=300, interval=1, what="the campaign to complete")
    progress = body["progress"]
    assert progress["by_outcome"] == {"succeeded": 2, "exhausted": 1}
    assert progress["attempts"] == 5 and progress["calls"] == 5
    dialled = sorted(call.to for call in system.twilio.calls.values())
    assert dialled == sorted([NUMBER, BUSY_FIRST, BUSY_FIRST, NEVER, NEVER]), "nobody dialled twice per attempt"
