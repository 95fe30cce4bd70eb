"""A 20-contact campaign end to end: real Daphne, two real `qcluster` workers running the scheduled campaign task
(PostgreSQL + Redis in `make test-scale`), FakeTwilio with simulated phones, all driven through the REST API as an
integrator would.

Some numbers are busy or do not answer the first time (their retries must come no earlier than their delay), one
never answers; one callee asks never to be called again and one to be called back tomorrow: each is recognised by
the fake Realtime server by its voice and plays its own script (the `do_not_call` / `schedule_callback` tools).
While it runs, the caps are sampled from both sides: the calls live at Twilio (never more than
MAX_CONCURRENT_CALLS, never two to one number) and the campaign's calls in flight as its progress reports them.
The results export is then checked row by row."""
import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from openpyxl import load_workbook

from tests.e2e.test_full_call import BOT_WORDS, CLIENT_WORDS, EXTRACTED, KEY, system  # noqa: F401  (the fixture)
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from simulator.phone import voice
from simulator.twilio import FINAL
from simulator.polling import async_wait_for

pytestmark = pytest.mark.slow

CAP = 3  # MAX_CONCURRENT_CALLS of the workers, and the campaign's calls at once
RETRY_S = 60  # the shortest retry delay a campaign accepts
PLAIN = [f"+346002000{n:02d}" for n in range(1, 13)]
BUSY_FIRST = ["+34600300001", "+34600300002", "+34600300003"]
SILENT_FIRST = ["+34600300004", "+34600300005"]
NEVER = "+34600300006"
DO_NOT_CALL = "+34600300007"
CALLBACK = "+34928123456"  # a Canary Islands landline: one zone, an hour behind Madrid
CALLBACK_ZONE = ZoneInfo("Atlantic/Canary")
DNC_HZ, CALLBACK_HZ = 330.0, 880.0
QUOTE = "No me vuelvan a llamar nunca más."
RULES = {"window": {"days": [0, 1, 2, 3, 4, 5, 6], "hours": [["00:00", "24:00"]]}, "max_in_flight": CAP,
         "calls_per_second": 1, "max_attempts": 2, "retry_delays": {"busy": RETRY_S, "no_answer": RETRY_S}}


def _script(words: str, *replies: Reply) -> RealtimeScenario:
    """A short call: the opening, the callee says `words`, then `replies` (the last one a goodbye)."""
    return RealtimeScenario(api_key=KEY, callee_turns=[CalleeTurn(after_ms=600, speech_ms=800, transcript=words)],
                            replies=[Reply(BOT_WORDS, audio_ms=600), *replies])


def _scripts(callback_day: str) -> dict[float, RealtimeScenario]:
    """The two callees with their own script, by voice: each calls its tool, then end_call, then says goodbye."""
    def script(words: str, tool: tuple[str, dict], goodbye: str) -> RealtimeScenario:
        return _script(words, Reply(tool=tool), Reply(end_call="cliente_se_despide"), Reply(goodbye, audio_ms=400))

    return {DNC_HZ: script(QUOTE, ("do_not_call", {"quote": QUOTE}), "Entendido, no le llamaremos más. Adiós."),
            CALLBACK_HZ: script("Llámenme mañana a las diez y media.",
                                ("schedule_callback", {"date": callback_day, "time": "10:30"}),
                                "Perfecto, le llamamos mañana a las diez y media. Adiós.")}


@dataclass
class Samples:
    """The caps as seen while the campaign runs."""

    live_at_twilio: list[int] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _sample_twilio(system, samples: Samples) -> None:  # noqa: F811
    while True:
        with system.twilio.lock:
            live = [call.to for call in system.twilio.calls.values() if call.status not in FINAL]
        samples.live_at_twilio.append(len(live))
        if len(set(live)) != len(live):
            samples.problems.append(f"two calls at once to one number: {sorted(live)}")
        await asyncio.sleep(0.05)


async def _sample_progress(system, campaign_id: int, samples: Samples) -> None:  # noqa: F811
    while True:
        try:
            progress = (await asyncio.to_thread(system.get, f"/api/campaigns/{campaign_id}/")).json()["progress"]
        except requests.RequestException:  # a slow answer on a loaded machine is a sample missed, not a failure
            continue
        samples.in_flight.append(progress["in_flight"])
        await asyncio.sleep(0.3)


def _dials(system) -> dict[str, list]:  # noqa: F811
    """Each number's calls as its phone saw them, in dialling order."""
    by_number: dict[str, list] = {}
    for outcome in sorted(system.phones.outcomes.values(), key=lambda o: o.dialled_at):
        by_number.setdefault(outcome.to, []).append(outcome)
    return by_number


# The callees' scripts start with the model saying the opening line: a cached opening (played without asking the
# model) would shift every script by one reply once the worker has rendered it.
@pytest.mark.parametrize("system", [{"worker": False, "env": {"OPENING_CACHE": "false"}}], indirect=True)
async def test_a_20_contact_campaign_retries_obeys_its_caps_and_what_callees_say(system):  # noqa: F811
    system.stack.env["MAX_CONCURRENT_CALLS"] = str(CAP)
    system.stack.start_worker()
    system.stack.start_worker()  # two schedulers may pass at once
    await asyncio.to_thread(system.stack.manage, "setup_schedules")
    tomorrow = (datetime.now(CALLBACK_ZONE) + timedelta(days=1)).date()
    system.realtime.scenario = _script(CLIENT_WORDS, Reply(end_call="informacion_completa"),
                                       Reply("Gracias por su tiempo, adiós.", audio_ms=400))  # everyone else's
    system.realtime.voices.update(_scripts(tomorrow.isoformat()))
    system.phones.voices.update({DO_NOT_CALL: voice(DNC_HZ, 1400), CALLBACK: voice(CALLBACK_HZ, 1400)})
    system.phones.behaviour.update({number: ["busy", "answer"] for number in BUSY_FIRST})
    system.phones.behaviour.update({number: ["no-answer", "answer"] for number in SILENT_FIRST})
    system.phones.behaviour[NEVER] = "no-answer"
    numbers = BUSY_FIRST + SILENT_FIRST + [NEVER] + PLAIN + [DO_NOT_CALL, CALLBACK]  # retries start early
    assert len(numbers) == 20
    response = await asyncio.to_thread(system.post, "/api/campaigns/", {"name": "System", "phone_numbers": numbers,
                                                                        **RULES}, timeout=60)
    assert response.status_code == 201, response.text
    campaign_id = response.json()["id"]
    assert (await asyncio.to_thread(system.post, f"/api/campaigns/{campaign_id}/start/", {})).status_code == 200

    samples = Samples()
    samplers = [asyncio.create_task(_sample_twilio(system, samples)),
                asyncio.create_task(_sample_progress(system, campaign_id, samples))]

    last: list[dict] = []

    async def everyone_settled() -> dict | None:
        body = (await asyncio.to_thread(system.get, f"/api/campaigns/{campaign_id}/")).json()
        progress = body["progress"]
        last[:] = [progress]
        waiting_long = progress["next_due"] and datetime.fromisoformat(progress["next_due"]) > datetime.now(
            timezone.utc) + timedelta(hours=1)  # the callback, not a retry
        return body if progress["done"] == 20 or (progress["done"] == 19 and waiting_long) else None

    try:
        body = await async_wait_for(everyone_settled, timeout=400, interval=1, what="every contact but one to settle")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; progress: {last}") from None
    finally:
        for task in samplers:
            task.cancel()
        await asyncio.gather(*samplers, return_exceptions=True)

    # The caps held throughout, and were reached (the samples saw the campaign at full speed).
    assert not samples.problems, samples.problems[:3]
    assert max(samples.live_at_twilio) == CAP, f"at most {CAP} calls live at Twilio at once"
    assert max(samples.in_flight) <= CAP and len(samples.in_flight) > 20
    progress = body["progress"]
    assert body["state"] == "running", "the callback keeps it running"
    assert progress["by_outcome"] == {"succeeded": 17, "exhausted": 1, "refused": 1}
    assert progress["by_state"] == {"done": 19, "pending": 1}
    assert progress["attempts"] == 26 and progress["calls"] == 26

    # Retries came, and no earlier than their delay after the attempt before ended.
    dials = _dials(system)
    assert {number: len(calls) for number, calls in dials.items()} == {
        **dict.fromkeys(numbers, 1), **dict.fromkeys(BUSY_FIRST + SILENT_FIRST + [NEVER], 2)}
    for number in BUSY_FIRST + SILENT_FIRST + [NEVER]:
        first, second = dials[number]
        assert first.ended_by in ("busy", "no-answer")
        assert second.dialled_at - first.ended_at >= RETRY_S - 0.5, f"{number} retried too early"

    # The callee who asked not to be called: do-not-call, with the quote, never dialled again.
    contact = (await asyncio.to_thread(system.get, f"/api/users/{DO_NOT_CALL}")).json()
    assert contact["do_not_call"] is True
    # The callee who asked for a callback: the next attempt is booked at 10:30 tomorrow, Canary Islands time.
    booked = datetime.combine(tomorrow, datetime.strptime("10:30", "%H:%M").time(), tzinfo=CALLBACK_ZONE)
    assert datetime.fromisoformat(progress["next_due"]) == booked
    assert not system.realtime.errors, system.realtime.errors[:3]
    assert system.realtime.voices_heard.count(DNC_HZ) == 1
    assert system.realtime.voices_heard.count(CALLBACK_HZ) == 1

    await _check_results(system, campaign_id, dials, booked)


async def _check_results(system, campaign_id: int, dials: dict[str, list], booked: datetime) -> None:  # noqa: F811
    """The export, row by row, once the worker has extracted every answered call."""
    async def exported() -> list[dict] | None:
        response = await asyncio.to_thread(system.get, f"/api/campaigns/{campaign_id}/results/")
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        answered = [row for row in rows if row["Last Call Status"] == "completed"]
        return rows if len(answered) == 19 and all(row.get("Place") for row in answered) else None

    rows = await async_wait_for(exported, timeout=120, interval=1, what="every answered call to be extracted")
    by_number = {row["Phone Number"]: row for row in rows}
    assert len(rows) == 20 and set(by_number) == set(dials)
    for number, row in by_number.items():
        last = dials[number][-1]
        assert (row["Attempts"], row["Last Call Sid"]) == (str(len(dials[number])), last.sid), number
        if number == NEVER:
            assert (row["State"], row["Outcome"], row["Last Call Status"]) == ("Done", "No success within the "
                                                                               "attempts allowed", "no-answer")
            assert row["Place"] == "" and row["Do Not Call Quote"] == ""
            continue
        assert row["Last Call Status"] == "completed"
        assert (row["Place"], row["Budget"]) == (EXTRACTED["place"], str(EXTRACTED["budget"])), number
        if number == DO_NOT_CALL:
            assert (row["State"], row["Outcome"], row["Do Not Call Quote"]) == (
                "Done", "Not callable (do-not-call, invalid number, ...)", QUOTE)
        elif number == CALLBACK:
            assert (row["State"], row["Outcome"]) == ("Waiting for its next attempt", "")
            assert f"booked {booked:%Y-%m-%d %H:%M} (Atlantic/Canary)" in row["Reason"]
        else:
            assert (row["State"], row["Outcome"], row["Do Not Call Quote"]) == ("Done", "Succeeded", "")
    xlsx = await asyncio.to_thread(system.get, f"/api/campaigns/{campaign_id}/results/", file_format="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [[str(cell) if cell is not None else "" for cell in row] for row in sheet.iter_rows(values_only=True)][
        1:] == [list(row.values()) for row in rows], "the xlsx holds the same rows as the csv"
