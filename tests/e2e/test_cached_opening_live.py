"""The cached opening on a real Daphne: rendered by `manage.py render_openings` through the fake speech endpoint,
played by the real-time phone (TwilioMediaClient) before the fake OpenAI, slow to connect (1 s), has even answered
its handshake; the live model answers the callee afterwards; the recording lines up with what the phone heard."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from calls.agent_config import DEFAULT_AI_DIR
from simulator.speech import BOT_SPEECH, CALLEE_SPEECH
from tests.e2e.test_live_call import NUMBER, PUBLIC_BASE_URL, _callback, api
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.openai_rest import OpenAIRestFake
from simulator.twilio import FakeTwilio
from simulator.twilio_media import SILENCE, TwilioMediaClient
from simulator.polling import async_wait_for
from tests.processes import Stack
from tests.recording_timing import recording_timing

pytestmark = pytest.mark.slow

OPENING = "Hola, buenas. Le llamo de la agencia."  # short: the phone plays it in real time


async def test_the_cached_opening_plays_at_once_and_the_recording_lines_up(tmp_path):
    ai_dir = tmp_path / "AI"
    shutil.copytree(DEFAULT_AI_DIR, ai_dir)
    agent = ai_dir / "prompts" / "agent.yaml"
    text = agent.read_text(encoding="utf-8")
    start = text.index("disclosure:")  # no disclosure (it would be said first): a short line, played in real time
    end = text.index("\ngoodbye:")
    agent.write_text(text[:start] + f'disclosure: ""\nopening_line: {OPENING}' + text[end:], encoding="utf-8")
    callee_speech = CALLEE_SPEECH[: 2000 * 8]
    reply = BOT_SPEECH[: 1000 * 8]
    scenario = RealtimeScenario(api_key=OpenAIRestFake().api_key, replies=[Reply("¿Qué busca?", audio=reply)])
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio, OpenAIRestFake() as speech:
        async with FakeRealtimeServer(scenario, connect_delay_s=1.0) as realtime:
            stack = Stack(tmp_path, extra_env={  # its database, media and logs beside the AI/ copy
                **twilio.voicebot_env(), "OPENAI_BASE_URL": speech.base_url, "OPENAI_API_KEY": speech.api_key,
                "OPENAI_REALTIME_BASE_URL": f"ws://127.0.0.1:{realtime.port}/v1", "AI_CONFIG_DIR": str(ai_dir),
                "CALL_DURATION_LIMIT": "60", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off", "DEBUG": "true",
                "REDIS_URL": "", "DATABASE_URL": "", "OPENING_CACHE": "true",
            })
            try:
                await asyncio.to_thread(stack.prepare)
                await asyncio.to_thread(stack.manage, "render_openings")
                stack.base_url = f"http://127.0.0.1:{await asyncio.to_thread(stack.start_daphne)}"
                await _call(stack, twilio, realtime, callee_speech, reply)
            except BaseException:
                print(stack.logs())
                raise
            finally:
                await asyncio.to_thread(stack.stop_all)


async def _set_once_played(client: TwilioMediaClient, size: int, event: asyncio.Event, what: str) -> None:
    await async_wait_for(lambda: sum(len(p.payload) for p in client.played) >= size, timeout=30, what=f"{what} to play")
    event.set()


async def _call(stack: Stack, twilio: FakeTwilio, realtime: FakeRealtimeServer, callee_speech: bytes,
                reply: bytes) -> None:
    [rendered] = list((Path(stack.env["MEDIA_ROOT"]) / "openings" / "_default").glob("*.ulaw"))  # AI/'s own line
    opening = rendered.read_bytes()
    sid = (await asyncio.to_thread(api, stack, "POST", "/api/calls/", json={"phone_number": NUMBER})).json()["call_sid"]
    stream_url, _, params = twilio.stream_handshake(sid)
    for hook in twilio.status_callbacks(sid, ["initiated", "ringing", "in-progress"]):
        assert (await asyncio.to_thread(hook.post_http, stack.base_url)).status_code == 200
    client = TwilioMediaClient(url=stack.base_url.replace("http", "ws") + urlsplit(stream_url).path,
                               token=params["token"], call_sid=sid, account_sid=twilio.account_sid,
                               auth_token=twilio.auth_token, signed_url=stream_url)
    await client.open()
    await client.start()
    first_heard = asyncio.create_task(async_wait_for(
        lambda: (len(realtime.handshakes),) if client.played else None, timeout=30, interval=0.002,
        what="the first bot audio"))
    played = asyncio.Event()
    watcher = asyncio.create_task(_set_once_played(client, len(opening), played, "the opening"))
    await client.stream(SILENCE * 500, until=played)
    assert await first_heard == (0,)  # heard before OpenAI answered the handshake
    await watcher
    speech_ms = client.next_timestamp_ms
    realtime.scenario.callee_turns.append(CalleeTurn(after_ms=speech_ms + 200, speech_ms=len(callee_speech) // 8 - 400,
                                                     transcript="Un piso en Valencia."))
    done = asyncio.Event()
    waiter = asyncio.create_task(_set_once_played(client, len(opening) + len(reply), done, "the model's reply"))
    await client.stream(callee_speech, then_silence_s=10, until=done)
    await waiter
    await client.stream(SILENCE * 10)
    ended_ms = client.stream_ms()
    await client.stop()
    await asyncio.to_thread(_callback, twilio, sid, stack)

    assert client.protocol_errors == [] and realtime.errors == []
    assert b"".join(p.payload for p in client.played) == opening + reply
    [item] = realtime.of_type("conversation.item.create")
    assert item["item"]["role"] == "assistant" and item["item"]["content"][0]["text"] == OPENING

    def final() -> dict | None:
        call = api(stack, "GET", f"/api/calls/{sid}/").json()
        return call if call["end_reason"] and call["first_words_ms"] is not None else None

    call = await async_wait_for(lambda: asyncio.to_thread(final), timeout=10, interval=0.1, what="the call's end")
    assert [turn["text"] for turn in call["live_transcript"]] == [OPENING, "Un piso en Valencia.", "¿Qué busca?"]
    assert call["first_words_ms"] < 1000  # it did not wait for OpenAI's connect

    history = await asyncio.to_thread(api, stack, "GET", "/api/call_histories", params={"phone_number": NUMBER})
    wav = (await asyncio.to_thread(api, stack, "GET", "/recordings/" + history.json()[0]["audio_file_name"])).content
    sent = SILENCE * (speech_ms // 20) + callee_speech
    timing = recording_timing(wav, ended_ms=ended_ms, callee_speech=sent, played=client.played)
    assert timing.alignment_error_ms <= 40 and timing.length_error_ms <= 40, timing
