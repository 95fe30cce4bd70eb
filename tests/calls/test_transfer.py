"""transfer_call end to end through the real consumer: the fake OpenAI makes the model ask for a person, the bot says
the hand-off line, the fake Twilio receives (and checks) the <Dial> TwiML, then Twilio's signed whisper and dial
outcome requests are answered with TwiML the fake checks too."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import yaml
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import OperationalError
from django.test import Client

from calls import transfer as transfer_module
from calls.agent_config import AgentConfigError, load_agent_config, relay_settings
from tests.calls.test_consumers import FRAME, answered_call, callee_audio, events_of, fresh, live  # noqa: F401
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from simulator.twiml import WHISPER_VERBS, twiml_check
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SALES, SUPPORT = "+34910000001", "+34910000002"
HAND_OFF = "Le paso con ventas, un momento."


def ai_dir_with(tmp_path: Path, **agent: object) -> Path:
    """A copy of AI/ whose agent.yaml has `agent`'s keys replaced."""
    folder = tmp_path / "AI"
    shutil.copytree(Path(django_settings.BASE_DIR) / "AI", folder)
    path = folder / "prompts" / "agent.yaml"
    merged = {**yaml.safe_load(path.read_text()), **agent}
    path.write_text(yaml.safe_dump(merged, allow_unicode=True, sort_keys=False))
    return folder


@pytest.fixture
def transfers(settings, tmp_path) -> Path:
    settings.AI_CONFIG_DIR = ai_dir_with(tmp_path, transfers={"ventas": "+34 910 00 00 01", "soporte": SUPPORT},
                                         transfer_line=HAND_OFF)
    return settings.AI_CONFIG_DIR


def asking_for(arguments: dict) -> RealtimeScenario:
    return RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="Quiero hablar con alguien de ventas.")],
        replies=[Reply("Hola.", audio_ms=200), Reply(tool=("transfer_call", arguments)),
                 Reply(HAND_OFF, audio_ms=400), Reply("Sigo aquí.", audio_ms=200)])


async def tool_output(server) -> dict:
    await server.wait_for("conversation.item.create")
    [item] = [event["item"] for event in server.of_type("conversation.item.create")
              if event["item"]["type"] == "function_call_output"]
    return json.loads(item["output"])


async def transferred(settings, live, callee_audio, arguments: dict):  # noqa: F811
    """A call whose callee asks for a person: returns it once its stream ended at Twilio's <Dial>."""
    async with answered_call(settings, live, asking_for(arguments), echo_marks=False) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40])
        assert await tool_output(server) == {
            "ok": True, "result": "Say the hand-off line; the call then goes to a person."}
        hand_off = (await server.wait_for("response.create", 2))[1]
        assert HAND_OFF in hand_off["response"]["instructions"]
        # The hand-off line's audio went out, with its mark (the opening's came first).
        await async_wait_for(lambda: len(twilio.bot_audio()) >= 400 * 8 and len(twilio.of_event("mark")) >= 2,
                             what="the hand-off line's audio and mark")
        await asyncio.sleep(0.3)
        assert live.calls[call.twilio_sid].twiml_updates == [], "its mark has not come back: still being heard"
        for mark in twilio.of_event("mark"):
            await twilio.send(twilio.framer.mark(mark["mark"]["name"]))
        await async_wait_for(lambda: live.calls[call.twilio_sid].dial is not None, what="the <Dial> update")
        assert not live.calls[call.twilio_sid].hung_up, "moved, not hung up"
        await twilio.stop()  # Twilio ends the media stream when the call leaves for the <Dial>
        await asyncio.wait_for(twilio.closed.wait(), 5)
    return await fresh(call)


async def test_a_transfer_answered_by_a_person_dials_the_configured_number_and_records_it(
        settings, live, callee_audio, transfers):  # noqa: F811
    # The model also names a number: never dialled, only the configured one is.
    call = await transferred(settings, live, callee_audio, {"reason": "ventas", "number": "+34666000666"})

    dial = live.calls[call.twilio_sid].dial
    assert (dial.number, dial.caller_id, dial.timeout) == (SALES, "+15005550006", 25)
    assert dial.action_url == f"https://voicebot.example/twilio/transfer/{call.code}"
    assert dial.whisper_url == f"https://voicebot.example/twilio/transfer/{call.code}/whisper"
    assert call.end_reason == "transferred"
    assert call.transfer["reason"] == "ventas" and call.transfer["to"] == SALES
    assert call.transfer["outcome"] == "dialling"
    assert [e.detail["tool_reason"] for e in await events_of(call, "hang_up")] == ["ventas"]
    assert {turn["speaker"] for turn in call.live_transcript} == {"bot", "callee"}, "the talk before is kept"
    assert call.recording, "the recording up to the hand-off is kept"

    client = Client()
    whisper = await sync_to_async(live.whisper_request(call.twilio_sid).post)(client)
    assert whisper.status_code == 200 and whisper["Content-Type"].startswith("text/xml")
    said = twiml_check(whisper.content.decode(), verbs=WHISPER_VERBS).find("Say").text
    assert said == "Llamada del asistente: ventas."
    outcome = await sync_to_async(live.dial_outcome(call.twilio_sid, "completed", duration=42).post)(client)
    assert outcome.status_code == 200
    root = twiml_check(outcome.content.decode())
    assert [verb.tag for verb in root] == ["Hangup"], "after the conversation the call just ends"

    call = await fresh(call)
    assert call.transfer["outcome"] == "answered" and call.transfer["dial_duration"] == 42
    [event] = await events_of(call, "transfer_outcome")
    assert event.detail["dial_call_status"] == "completed"


@pytest.mark.parametrize("dial_status", ["no-answer", "busy", "failed"])
async def test_an_unanswered_transfer_gives_the_callee_the_fallback_line_then_hangs_up(
        settings, live, callee_audio, transfers, dial_status):  # noqa: F811
    call = await transferred(settings, live, callee_audio, {"reason": "soporte"})
    assert live.calls[call.twilio_sid].dial.number == SUPPORT

    response = await sync_to_async(live.dial_outcome(call.twilio_sid, dial_status).post)(Client())

    root = twiml_check(response.content.decode())
    fallback = load_agent_config(transfers).agent.transfer_fallback
    assert [verb.tag for verb in root] == ["Say", "Hangup"] and root.find("Say").text == fallback
    assert root.find("Say").get("language") == "es-ES"
    call = await fresh(call)
    assert (call.transfer["outcome"], call.transfer["dial_call_status"]) == (dial_status, dial_status)
    assert call.end_reason == "transferred"


async def test_a_transfer_that_crashes_still_hangs_up(settings, live, callee_audio, transfers, monkeypatch):  # noqa: F811
    # The database refusing the transfer's record (as a locked SQLite table does) is not a TransferRefused.
    def locked(**kwargs):
        raise OperationalError("database table is locked")

    monkeypatch.setattr(transfer_module, "_record", locked)
    async with answered_call(settings, live, asking_for({"reason": "ventas"})) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40])
        await async_wait_for(lambda: live.calls[call.twilio_sid].hung_up, what="the hang-up after the crash")
        await twilio.stop()
    assert (await fresh(call)).end_reason == "transferred"


async def test_a_reason_that_is_not_configured_is_refused_and_the_call_goes_on(
        settings, live, callee_audio, transfers):  # noqa: F811
    async with answered_call(settings, live, asking_for({"reason": "+34666000666"})) as (server, call, twilio):
        await twilio.stream(callee_audio[: FRAME * 40])
        assert await tool_output(server) == {"error": "reason must be one of: ventas, soporte."}
        await server.wait_for("response.create", 2)  # the model goes on after the refusal
        await asyncio.sleep(0.2)
        assert live.calls[call.twilio_sid].twiml_updates == [] and not live.calls[call.twilio_sid].hung_up
        await twilio.stop()
    call = await fresh(call)
    assert call.transfer == {} and call.end_reason == "callee_hangup"


async def test_a_transfer_twilio_refuses_is_recorded_failed_and_the_call_hung_up(
        settings, live, callee_audio, transfers):  # noqa: F811
    async with answered_call(settings, live, asking_for({"reason": "ventas"})) as (server, call, twilio):
        live.fail_next = (400, 21220, "Call is not in-progress. Cannot redirect.")  # the next request: the <Dial>
        await twilio.stream(callee_audio[: FRAME * 40])
        await async_wait_for(lambda: live.calls[call.twilio_sid].hung_up, what="the hang-up after the refusal")
        await twilio.stop()
    call = await fresh(call)
    assert call.transfer["outcome"] == "failed" and "not in-progress" in call.transfer["error"]
    assert [e.detail["outcome"] for e in await events_of(call, "transfer")] == ["failed"]


def test_transfer_numbers_are_validated_when_the_files_are_loaded(tmp_path):
    bad = ai_dir_with(tmp_path, transfers={"ventas": "not a number"})
    with pytest.raises(AgentConfigError, match=r"agent\.yaml.*transfers.*ventas.*not a valid phone number"):
        load_agent_config(bad)


def test_a_reason_must_be_a_plain_word(tmp_path):
    with pytest.raises(AgentConfigError, match="reason 'Ventas Madrid'"):
        load_agent_config(ai_dir_with(tmp_path, transfers={"Ventas Madrid": SALES}))


def test_transfer_call_is_offered_only_with_numbers_and_lists_exactly_their_reasons(tmp_path):
    def offered(ai_dir: Path) -> dict:
        config = relay_settings(load_agent_config(ai_dir), voice="coral", transcription_model="whisper-1",
                                language="es", duration_limit_s=0)
        return {tool["name"]: tool for tool in config.tools}

    assert "transfer_call" not in offered(Path(django_settings.BASE_DIR) / "AI")  # the shipped AI/ has none
    tool = offered(ai_dir_with(tmp_path, transfers={"ventas": SALES, "soporte": SUPPORT}))["transfer_call"]
    assert tool["parameters"]["properties"]["reason"]["enum"] == ["ventas", "soporte"]
    assert tool["parameters"]["required"] == ["reason"]


def test_the_transfer_webhooks_need_twilios_signature_and_a_known_status(live, transfers):  # noqa: F811
    from calls.models import Call
    from contacts.models import Contact

    call = Call.objects.create(contact=Contact.objects.create(phone_number="+34600111222"),
                               phone_number="+34600111222", twilio_sid="CA" + "0" * 32)
    url = f"https://voicebot.example/twilio/transfer/{call.code}"
    client = Client()
    forged = live.sign(url, {"CallSid": call.twilio_sid, "DialCallStatus": "completed"})
    forged.signature = "x" + forged.signature[1:]
    assert forged.post(client).status_code == 403
    assert live.sign(url, {"CallSid": call.twilio_sid, "DialCallStatus": "ringing"}).post(client).status_code == 400
    unknown = url.replace(str(call.code), "00000000-0000-0000-0000-000000000000")
    assert live.sign(unknown, {"DialCallStatus": "busy"}).post(client).status_code == 404
    assert live.sign(url + "/whisper", {"CallSid": "CA1"}).post(client).status_code == 200
    call.refresh_from_db()
    assert call.transfer == {}, "nothing was recorded from the refused requests"
