"""One full call, end to end, over real sockets, the way a customer runs voicebot.

A real Daphne serves the real ASGI app and a real `qcluster` worker processes the call afterwards. Twilio is
FakeTwilio (REST, signed callbacks) with simulated phones streaming real speech at real-time pace; OpenAI is the
fake Realtime server during the call and the fake REST server afterwards. Each door starts a call; the test then
reads everything back through the REST API only: status, stereo recording, Bot/Client transcript, extracted
fields and the contact's last-called time.
"""
import asyncio
import contextlib
import io
import json
import re
import shutil
import wave
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
import yaml

from calls.agent_config import DEFAULT_AI_DIR
from tests.fakes.business import FakeBusiness
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.openai_rest import OpenAIRestFake
from simulator.phone import SimulatedPhones
from simulator.twilio import FakeTwilio
from tests.path_proxy import PathProxy
from simulator.polling import async_wait_for
from tests.processes import Stack

pytestmark = pytest.mark.slow

KEY = "sk-e2e-fake-openai"
PUBLIC = "https://voicebot.example"
NUMBER = "+34600111222"
BOT_TONE_HZ = 523.0  # the fake Realtime server speaks in 523 Hz tones
BOT_WORDS = "Hola, le llamo de la agencia de alquileres."
CLIENT_WORDS = "Busco un piso en Madrid, mil euros al mes."
EXTRACTED = {"place": "Madrid", "budget": 1000, "other_requirements": None}


SIGNING_SECRET = "e2e-tools-signing-secret"
TOOL_ARGUMENTS = {"date": "2026-12-01"}
SALES = "+34910000001"


def _scenario(*, http_tool: bool = False, transfer: bool = False) -> RealtimeScenario:
    """The callee says what they look for; the bot ends the call (first calling the HTTP tool, with `http_tool`), or
    passes it to sales (`transfer`)."""
    # With the tool, the callee also presses a key at once: the bot answers it before the callee speaks.
    tool = [Reply("De acuerdo.", audio_ms=400), Reply(tool=("check_availability", TOOL_ARGUMENTS))] if http_tool else []
    ending = Reply(tool=("transfer_call", {"reason": "ventas"})) if transfer else Reply(end_call="informacion_completa")
    return RealtimeScenario(
        api_key=KEY,
        callee_turns=[CalleeTurn(after_ms=1500, speech_ms=2000, transcript=CLIENT_WORDS)],
        replies=[Reply(BOT_WORDS, audio_ms=1200), *tool, ending, Reply("Gracias por su tiempo, adiós.", audio_ms=800)],
    )


def _http_tool_env(tmp_path, business: FakeBusiness) -> dict[str, str]:
    """AI/ with an HTTP tool calling `business`, and the environment it needs."""
    ai_dir = tmp_path / "AI"
    shutil.copytree(DEFAULT_AI_DIR, ai_dir)
    tools = ai_dir / "tools" / "tools.yaml"
    tools.write_text(tools.read_text(encoding="utf-8") + (
        "  - name: check_availability\n    description: Mira si hay visitas libres ese día.\n"
        "    parameters: {type: object, properties: {date: {type: string}}}\n"
        f"    http: {{url: '{business.url('/availability')}', headers: {{Authorization: 'env:CRM_TOKEN'}}}}\n"),
        encoding="utf-8")
    return {"AI_CONFIG_DIR": str(ai_dir), "CRM_TOKEN": "Bearer crm-e2e", "TOOLS_SIGNING_SECRET": SIGNING_SECRET}


def _ai_dir_with_transfers(tmp_path: Path) -> Path:
    """AI/ with a number for the reason `ventas` (the shipped one has none)."""
    folder = tmp_path / "AI"
    shutil.copytree(Path(__file__).resolve().parents[2] / "AI", folder)
    agent = folder / "prompts" / "agent.yaml"
    prompts = yaml.safe_load(agent.read_text(encoding="utf-8"))
    agent.write_text(yaml.safe_dump({**prompts, "transfers": {"ventas": SALES}}, allow_unicode=True), "utf-8")
    return folder


class System:
    """Everything one test needs: the deployment, the fakes and the phones."""

    def __init__(self, stack: Stack, port: int, twilio: FakeTwilio, realtime: FakeRealtimeServer,
                 rest: OpenAIRestFake, phones: SimulatedPhones, proxy: PathProxy,
                 business: FakeBusiness | None = None) -> None:
        self.stack, self.port, self.twilio, self.realtime, self.rest, self.phones, self.proxy = (
            stack, port, twilio, realtime, rest, phones, proxy)
        self.business = business
        self.url = proxy.url  # the one public address, as behind nginx
        self.auth = {"Authorization": f"Token {stack.token}"}

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.url + path, headers=self.auth, params=params, timeout=10)

    def post(self, path: str, json: dict, timeout: float = 10) -> requests.Response:
        return requests.post(self.url + path, headers=self.auth, json=json, timeout=timeout)

    async def processed_record(self, sid: str, *, timeout: float = 60) -> dict:
        """The call's history record once the worker has extracted its data."""
        def processed() -> dict | None:
            records = self.get("/api/call_histories", phone_number=NUMBER).json()
            record = next((r for r in records if r["call_sid"] == sid), None)
            return record if record and (record["extracted_info"] or record.get("extraction_error")) else None

        # The deployment's logs are printed by the `system` fixture when the test fails.
        return await async_wait_for(lambda: asyncio.to_thread(processed), timeout=timeout, interval=0.5,
                                    what=f"call {sid} to be processed")


@pytest.fixture
async def system(tmp_path, request):
    """The deployment; parametrize indirectly with {"worker": False} to start it without the worker, or with
    {"webs": 2} for two Daphne processes behind one address: /make_call and the API on the first, Twilio's
    callbacks and the media stream on the second, with {"http_tool": True} for a bot that calls a fake business
    endpoint (system.business) during the call, or with {"transfer": True} for a bot that passes the call to sales
    (AI/ with a `ventas` number) instead of ending it; {"env": {...}} adds settings."""
    options = getattr(request, "param", {})
    async with contextlib.AsyncExitStack() as extras:
        business, extra_env = None, {}
        if options.get("http_tool"):
            business = await extras.enter_async_context(FakeBusiness(secret=SIGNING_SECRET, answer={"free": True}))
            extra_env = _http_tool_env(tmp_path, business)
        if options.get("transfer"):
            extra_env = {"AI_CONFIG_DIR": str(_ai_dir_with_transfers(tmp_path))}
        scenario = _scenario(http_tool=bool(business), transfer=options.get("transfer", False))
        realtime = await extras.enter_async_context(FakeRealtimeServer(scenario))
        with OpenAIRestFake(api_key=KEY, voices={BOT_TONE_HZ: BOT_WORDS}, default_words=CLIENT_WORDS,
                            chat_answer=EXTRACTED) as rest, FakeTwilio(public_base_url=PUBLIC) as twilio:
            stack = Stack(tmp_path, extra_env={
                **twilio.voicebot_env(), "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": rest.base_url,
                "OPENAI_REALTIME_BASE_URL": realtime.base_url.replace("http://", "ws://"),
                "CALL_DURATION_LIMIT": "30", "SILENCE_TIMEOUT": "0", "PROCESSING_RETRY_BACKOFF": "0.1", **extra_env,
                **options.get("env", {}),
            })
            try:
                await asyncio.to_thread(stack.prepare)
                port = await asyncio.to_thread(stack.start_daphne)
                if options.get("worker", True):
                    stack.start_worker()
                second = await asyncio.to_thread(stack.start_daphne) if options.get("webs") == 2 else port
                routes = {"/twilio/": second, "/media-stream": second}
                async with PathProxy(default_port=port, routes=routes) as proxy, SimulatedPhones(
                    twilio, proxy.url, hang_up_after_s=25
                ) as phones:
                    yield System(stack, port, twilio, realtime, rest, phones, proxy, business)
            finally:
                await asyncio.to_thread(stack.stop_all)
                print(stack.logs())  # shown by pytest when the test fails


def _channels(wav_bytes: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].astype(float), frames[:, 1].astype(float), 8000


def _loud_seconds(channel: np.ndarray, rate: int) -> float:
    windows = channel[: len(channel) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((windows ** 2).mean(axis=1)) > 300).sum() * 0.02)


async def _assert_complete_call(system: System, sid: str) -> None:
    record = await system.processed_record(sid)
    assert record["call_status"] == "completed"
    assert record["extracted_info"] == EXTRACTED, record.get("extraction_error")
    lines = record["conversation"].splitlines()
    assert f"Bot: {BOT_WORDS}" in lines and f"Client: {CLIENT_WORDS}" in lines

    live = (await asyncio.to_thread(system.get, f"/api/calls/{sid}/")).json()
    assert live["end_reason"] == "bot_hangup" and live["duration"] >= 1
    assert {turn["speaker"] for turn in live["live_transcript"]} == {"bot", "callee"}

    audio = await asyncio.to_thread(system.get, "/" + record["audio_file_name"])
    assert audio.status_code == 200
    left, right, rate = _channels(audio.content)
    assert _loud_seconds(left, rate) > 2.0, "the callee's speech is on the left channel"
    assert _loud_seconds(right, rate) > 1.0, "the bot's speech is on the right channel"
    outcome = system.phones.outcomes[sid]
    assert outcome.ended_by in ("voicebot", "stream_closed") and not outcome.media.protocol_errors
    assert abs(len(left) / rate - outcome.media.ended_ms / 1000) < 0.1, "the recording lasts as long as the stream"

    user = (await asyncio.to_thread(system.get, f"/api/users/{NUMBER}")).json()
    assert user["last_called_at"] is not None
    assert sid in [call["call_sid"] for call in user["call_history"]]
    assert not system.realtime.errors, system.realtime.errors


async def test_a_call_from_make_call_ends_completed_with_recording_transcript_and_data(system):
    response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": "600 111 222"}, timeout=60)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["call_status"] == "completed" and body["phone_number"] == NUMBER
    assert body["call_duration"] >= 1 and body["audio_file_name"].endswith(".wav")
    await _assert_complete_call(system, body["call_sid"])


async def test_no_secret_or_audio_reaches_the_logs(system):
    response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": NUMBER}, timeout=60)
    sid = response.json()["call_sid"]
    await system.processed_record(sid)
    await asyncio.to_thread(system.stack.stop_all)  # flush and close every log

    logs = system.stack.logs(tail=None)
    assert sid in logs and "Media stream started" in logs, "the logs are the real ones"
    token = system.twilio.calls[sid].token
    for secret in (system.twilio.auth_token, KEY, token, system.stack.token, "pw-ops"):
        assert secret not in logs
    assert not re.search(r"[A-Za-z0-9+/]{120,}={0,2}", logs), "no base64 audio payload"


async def test_a_call_from_the_place_call_command_ends_completed(system):
    result = await asyncio.to_thread(system.stack.manage, "place_call", NUMBER, "--timeout", "60", check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    (sid,) = system.twilio.calls
    assert sid in result.stdout or "completed" in result.stdout
    await _assert_complete_call(system, sid)


def _staff_session(system: System) -> requests.Session:
    """Log in through the admin's login form, as a person would."""
    session = requests.Session()
    session.get(f"{system.url}/admin/login/", timeout=10)
    response = session.post(f"{system.url}/admin/login/", timeout=10, data={
        "username": "ops", "password": "pw-ops", "next": "/admin/",
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    })
    assert response.url.endswith("/admin/"), "logged in"
    return session


def _call_from_the_admin(system: System) -> requests.Response:
    """Contacts > select > "Call selected contacts" makes a draft campaign; open its window to all hours, start it.
    The worker's scheduled campaign task (setup_schedules, as `make run` creates it) dials."""
    system.stack.manage("setup_schedules")
    assert system.post("/api/users", {"phone_number": NUMBER, "name": "Ana"}).status_code == 201
    session = _staff_session(system)
    changelist = f"{system.url}/admin/contacts/contact/?q={NUMBER[1:]}"
    (row,) = re.findall(r'name="_selected_action" value="(\d+)"', session.get(changelist, timeout=10).text)
    token = session.cookies["csrftoken"]
    draft = session.post(changelist, timeout=10, data={
        "action": "call_contacts", "_selected_action": row, "index": "0", "csrfmiddlewaretoken": token})
    assert "Draft campaign" in draft.text
    campaign = re.search(r"/admin/campaigns/campaign/(\d+)/change/", draft.url)[1]
    rules = {"name": "E2E", "profile": "", "success_rule": "completed", "required_fields": "",
             "days": [str(day) for day in range(7)], "hours": "00:00-24:00", "time_zone": "Europe/Madrid",
             "max_in_flight": "1", "calls_per_second": "1", "max_attempts": "1", "retry_busy": "30",
             "csrfmiddlewaretoken": token}
    assert session.post(draft.url, data=rules, timeout=10).url.endswith(f"/campaign/{campaign}/progress/")
    return session.post(f"{system.url}/admin/campaigns/campaign/{campaign}/do/start/", timeout=10,
                        data={"csrfmiddlewaretoken": token})


async def test_a_call_from_the_admin_action_ends_completed(system):
    started = await asyncio.to_thread(_call_from_the_admin, system)

    assert started.status_code == 200 and "E2E: running." in started.text
    (outcome,) = await system.phones.wait_ended(1, timeout=120)
    await _assert_complete_call(system, outcome.sid)


@pytest.mark.parametrize("system", [{"worker": False}], indirect=True)
async def test_a_call_that_ends_while_the_worker_is_down_is_processed_when_it_comes_back(system):
    response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": NUMBER}, timeout=60)
    sid = response.json()["call_sid"]
    await asyncio.sleep(3)
    (record,) = (await asyncio.to_thread(system.get, "/api/call_histories", phone_number=NUMBER)).json()
    assert record["call_status"] == "completed" and record["extracted_info"] == {}, "nothing processed yet"

    system.stack.start_worker()

    await _assert_complete_call(system, sid)


async def test_a_web_process_killed_mid_call_is_reconciled_and_keeps_its_recording(system):
    started = await asyncio.to_thread(system.post, "/api/calls/", {"phone_number": NUMBER})
    sid = started.json()["call_sid"]

    async def talking() -> bool:
        outcome = system.phones.outcomes.get(sid)
        return bool(outcome and outcome.media and outcome.media.next_timestamp_ms > 3000
                    and (await asyncio.to_thread(system.get, f"/api/calls/{sid}/")).json()["stream_sid"])

    await async_wait_for(talking, timeout=30, interval=0.1, what="the call to get talking")

    web = system.stack.processes[0]
    web.kill()  # SIGKILL: no disconnect handler, no stream_finished, no goodbye
    killed_at_s = system.phones.outcomes[sid].media.stream_ms() / 1000
    await asyncio.to_thread(web.wait)
    (outcome,) = await system.phones.wait_ended(1, timeout=30)
    assert outcome.callbacks[-1] is None, "Twilio's 'completed' callback was lost"
    await asyncio.to_thread(system.stack.start_daphne, system.port)
    stale = (await asyncio.to_thread(system.get, f"/api/calls/{sid}/")).json()
    assert stale["status"] == "in-progress"

    script = "from calls.services import call_reconcile_stale; print(call_reconcile_stale(older_than_seconds=0))"
    settled = await asyncio.to_thread(system.stack.manage, "shell", "-c", script)
    assert settled.stdout.split()[-1] == "1"

    record = await system.processed_record(sid)
    assert record["call_status"] == "completed" and record["end_reason"] == "stale"
    assert record["extracted_info"] == EXTRACTED
    audio = await asyncio.to_thread(system.get, "/" + record["audio_file_name"])
    left, right, rate = _channels(audio.content)
    assert len(left) / rate >= killed_at_s - 1.1, "a crash loses at most a second of the recording"
    assert _loud_seconds(left, rate) > 1.0, "the callee's speech before the crash is kept"


@pytest.mark.parametrize("system", [{"webs": 2}], indirect=True)
async def test_two_web_processes_behind_one_address_share_a_call(system):
    response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": NUMBER}, timeout=60)

    assert response.status_code == 200 and response.json()["call_status"] == "completed"
    stream_path = urlsplit(system.twilio.calls[response.json()["call_sid"]].stream_url).path  # the call's own
    waiter, streamer = system.port, system.proxy.port_for(stream_path)
    assert waiter != streamer and stream_path.startswith("/media-stream/")
    assert system.proxy.routed[("/make_call", waiter)] == 1
    assert system.proxy.routed[(stream_path, streamer)] == 1
    status_path = urlsplit(system.twilio.last_call.status_callback_url).path  # the call's own callback URL
    assert status_path.startswith("/twilio/status/")
    assert system.proxy.routed[(status_path, streamer)] == 4
    await _assert_complete_call(system, response.json()["call_sid"])


@pytest.mark.parametrize("system", [{"http_tool": True}], indirect=True)
async def test_a_call_whose_bot_uses_an_http_tool_and_hears_a_key_keeps_both_on_its_record(system):
    system.phones.keypresses[NUMBER] = [(0.3, "1")]
    response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": NUMBER}, timeout=60)
    sid = response.json()["call_sid"]

    await _assert_complete_call(system, sid)
    [request] = system.business.requests  # its signature checked with README's recipe, else it is in `refused`
    assert request.json["arguments"] == TOOL_ARGUMENTS and request.json["call"]["sid"] == sid
    assert request.headers["Authorization"] == "Bearer crm-e2e" and system.business.refused == []
    script = ("import json; from calls.models import CallEvent; print(json.dumps([e.detail for e in "
              f"CallEvent.objects.filter(call__twilio_sid='{sid}', kind='tool_called')]))")
    [event] = json.loads((await asyncio.to_thread(system.stack.manage, "shell", "-c", script)).stdout.splitlines()[-1])
    assert (event["name"], event["arguments"], event["result"]) == ("check_availability", TOOL_ARGUMENTS,
                                                                    {"free": True})
    [key] = [event["item"]["content"][0]["text"] for event in system.realtime.of_type("conversation.item.create")
             if event["item"]["type"] == "message"]
    assert key == "El cliente ha pulsado la tecla 1 del teléfono."


@pytest.mark.parametrize("system", [{"transfer": True}], indirect=True)
async def test_a_call_the_bot_transfers_to_sales_is_dialled_whispered_and_recorded(system):
    response = await asyncio.to_thread(system.post, "/make_call", {"phone_number": NUMBER}, timeout=60)
    sid = response.json()["call_sid"]

    (outcome,) = await system.phones.wait_ended(1, timeout=60)
    assert system.twilio.calls[sid].dial.number == SALES, "the number from AI/, never from the model"
    assert ET.fromstring(outcome.whisper).find("Say").text == "Llamada del asistente: ventas."
    assert [verb.tag for verb in ET.fromstring(outcome.after_dial)] == ["Hangup"]
    record = await system.processed_record(sid)
    assert f"Client: {CLIENT_WORDS}" in record["conversation"].splitlines(), "the talk before the hand-off is kept"
    live = (await asyncio.to_thread(system.get, f"/api/calls/{sid}/")).json()
    assert live["end_reason"] == "transferred"
    assert {key: live["transfer"][key] for key in ("reason", "to", "outcome")} == {
        "reason": "ventas", "to": SALES, "outcome": "answered"}
    assert not system.realtime.errors, system.realtime.errors
