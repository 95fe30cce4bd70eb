"""One live call end to end, black-box: a real Daphne serving the real ASGI app, Twilio's REST API and its media
stream faked in this process (FakeTwilio, TwilioMediaClient streaming recorded speech at real-time pace), and OpenAI
Realtime faked too (FakeRealtimeServer answering with recorded speech, transcripts and an `end_call`).

The call is placed with `POST /api/calls/`; everything asserted comes back through the API: the live transcript,
the end reason and the stereo recording, whose channels must line up with what Twilio streamed and played.
"""
from __future__ import annotations

import asyncio
import io
import wave
from urllib.parse import urlsplit

import pytest
import requests

from calls.live.relay import mulaw
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.speech import BOT_SPEECH, CALLEE_SPEECH
from simulator.twilio import FakeTwilio
from simulator.twilio_media import SILENCE, TwilioMediaClient
from simulator.polling import async_wait_for
from tests.processes import Stack

pytestmark = pytest.mark.slow

PUBLIC_BASE_URL = "https://voicebot.example"
NUMBER = "+34600123456"
PAUSE_MS = 400  # the callee answers this long after the opening line has played
GOODBYE_MS = 1500


def api(stack: Stack, method: str, path: str, **kwargs) -> requests.Response:
    response = requests.request(method, stack.base_url + path, timeout=10,
                                headers={"Authorization": f"Token {stack.token}"}, **kwargs)
    assert response.status_code < 400, (response.status_code, response.text)
    return response


def samples(pcm: bytes) -> list[int]:
    return list(memoryview(pcm).cast("h"))


def first_sound(values: list[int], threshold: int = 64) -> int:
    return next(index for index, value in enumerate(values) if abs(value) > threshold)


def rms(values: list[int]) -> float:
    return (sum(v * v for v in values) / max(1, len(values))) ** 0.5


@pytest.fixture
def twilio():
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as fake:
        yield fake


async def test_a_live_call_end_to_end(tmp_path, twilio):
    callee_speech = CALLEE_SPEECH
    bot_speech = BOT_SPEECH
    goodbye = bot_speech[: GOODBYE_MS * 8]
    # The callee's turn is added once we know when they start speaking (after the opening has played).
    scenario = RealtimeScenario(
        replies=[Reply("Hola, soy Lucía, de la inmobiliaria.", audio=bot_speech),
                 Reply(end_call="informacion_completa"),
                 Reply("Gracias por su tiempo, adiós.", audio=goodbye)])
    async with FakeRealtimeServer(scenario) as realtime:
        stack = Stack(tmp_path, extra_env={
            **twilio.voicebot_env(), "OPENAI_BASE_URL": realtime.base_url,
            "OPENAI_API_KEY": realtime.api_key, "CALL_DURATION_LIMIT": "60", "SILENCE_TIMEOUT": "0",
            "GOODBYE_MARK_CAP": "10", "AMD_MODE": "off", "DEBUG": "true", "REDIS_URL": "", "DATABASE_URL": "",
        })
        try:
            await asyncio.to_thread(stack.prepare)
            stack.base_url = f"http://127.0.0.1:{await asyncio.to_thread(stack.start_daphne)}"
            await _call(stack, twilio, realtime, callee_speech, bot_speech, goodbye)
        except BaseException:
            print(stack.logs())
            raise
        finally:
            await asyncio.to_thread(stack.stop_all)


async def _call(stack, twilio, realtime, callee_speech, bot_speech, goodbye) -> None:
    placed = await asyncio.to_thread(api, stack, "POST", "/api/calls/", json={"phone_number": NUMBER})
    sid = placed.json()["call_sid"]
    stream_url, _, params = twilio.stream_handshake(sid)  # what Twilio got in the TwiML it was asked to run
    for hook in twilio.status_callbacks(sid, ["initiated", "ringing", "in-progress"]):
        assert (await asyncio.to_thread(hook.post_http, stack.base_url)).status_code == 200

    client = TwilioMediaClient(url=stack.base_url.replace("http", "ws") + urlsplit(stream_url).path,
                               token=params["token"], call_sid=sid, account_sid=twilio.account_sid,
                               auth_token=twilio.auth_token, signed_url=stream_url)
    await client.open()
    hung_up_at = asyncio.create_task(_when_hung_up(twilio, sid, client))
    await client.start()
    opening_played = asyncio.Event()
    watcher = asyncio.create_task(_when_played(client, len(bot_speech), opening_played))
    await client.stream(SILENCE * 500, until=opening_played)
    await client.stream(SILENCE * (PAUSE_MS // 20))
    speech_ms = client.next_timestamp_ms
    realtime.scenario.callee_turns.append(CalleeTurn(
        after_ms=speech_ms + 200, speech_ms=len(callee_speech) // 8 - 400,
        transcript="Busco un piso en Valencia, unos novecientos euros."))
    await client.stream(callee_speech, then_silence_s=15)  # returns when we close the socket after the hang-up
    watcher.cancel()
    ended_ms = client.stream_ms()
    await client.stop()
    hung_up_ms = await asyncio.wait_for(hung_up_at, 5)
    await asyncio.to_thread(_callback, twilio, sid, stack)

    # The goodbye played out before Twilio was asked to hang up.
    assert client.protocol_errors == []
    assert realtime.errors == []
    assert client.marks_returned and hung_up_ms >= client.marks_returned_at[-1]
    last = client.played[-1]
    assert hung_up_ms >= last.stream_ms + len(last.payload) / 8 - 25
    assert b"".join(p.payload for p in client.played) == bot_speech + goodbye

    call = await _final_record(stack, sid)
    assert call["end_reason"] == "bot_hangup"
    spoken = [(turn["speaker"], turn["text"]) for turn in call["live_transcript"]]
    assert spoken == [("bot", "Hola, soy Lucía, de la inmobiliaria."),
                      ("callee", "Busco un piso en Valencia, unos novecientos euros."),
                      ("bot", "Gracias por su tiempo, adiós.")]

    history = await asyncio.to_thread(api, stack, "GET", "/api/call_histories", params={"phone_number": NUMBER})
    name = history.json()[0]["audio_file_name"]
    wav_bytes = (await asyncio.to_thread(api, stack, "GET", "/recordings/" + name)).content
    _check_recording(wav_bytes, client, callee_speech, speech_ms, bot_speech, goodbye, ended_ms)


async def _when_played(client: TwilioMediaClient, size: int, played: asyncio.Event) -> None:
    """Set `played` once `size` bytes of bot audio have played and their marks came back."""
    await async_wait_for(
        lambda: sum(len(p.payload) for p in client.played) >= size and len(client.marks_returned) >= len(client.played),
        timeout=60, what="the opening line to play")
    played.set()


async def _when_hung_up(twilio: FakeTwilio, sid: str, client: TwilioMediaClient) -> float:
    """The stream time at which FakeTwilio received the REST hang-up (polled every 5 ms)."""
    await async_wait_for(lambda: twilio.calls[sid].hung_up, timeout=120, interval=0.005, what="the REST hang-up")
    return client.stream_ms()


def _callback(twilio: FakeTwilio, sid: str, stack: Stack) -> None:
    assert twilio.status_callback(sid, "completed", duration=14).post_http(stack.base_url).status_code == 200


async def _final_record(stack: Stack, sid: str) -> dict:
    def final() -> dict | None:
        call = api(stack, "GET", f"/api/calls/{sid}/").json()
        return call if call["end_reason"] and len(call["live_transcript"]) >= 3 else None

    return await async_wait_for(lambda: asyncio.to_thread(final), timeout=10, interval=0.1,
                                what="the call's end reason and three transcript turns")


def _check_recording(wav_bytes: bytes, client: TwilioMediaClient, callee_speech: bytes, speech_ms: int,
                     bot_speech: bytes, goodbye: bytes, ended_ms: float) -> None:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        frames = samples(wav.readframes(wav.getnframes()))
    left, right = frames[0::2], frames[1::2]
    assert abs(len(left) / 8 - ended_ms) <= 40, (len(left) / 8, ended_ms)

    # Left: the callee, on Twilio's timestamps: silence while listening, then exactly the speech streamed.
    callee = samples(mulaw.decode(callee_speech))
    start = speech_ms * 8
    assert rms(left[: start - 800]) < 1
    assert left[start : start + len(callee)] == callee
    assert rms(left[start : start + len(callee)]) > 300

    # Right: the bot, where Twilio played it, and nothing where it did not.
    opening, bye = samples(mulaw.decode(bot_speech)), samples(mulaw.decode(goodbye))
    at = first_sound(right) - first_sound(opening)
    assert right[at : at + len(opening)] == opening
    assert abs(at / 8 - client.played[0].stream_ms) <= 60, (at / 8, client.played[0].stream_ms)
    goodbye_played = client.played[-(-len(bot_speech) // 1600)].stream_ms  # the fake sends 200 ms deltas
    bye_at = at + len(opening) + first_sound(right[at + len(opening):]) - first_sound(bye)
    assert right[bye_at : bye_at + len(bye)] == bye
    assert abs(bye_at / 8 - goodbye_played) <= 60, (bye_at / 8, goodbye_played)
    assert rms(right[: max(0, at - 400)]) < 1 and rms(right[at + len(opening) + 400 : bye_at - 400]) < 1
