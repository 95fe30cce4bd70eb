"""Talking to the bot from the browser ("Try this script"), in a real Chromium against a real Daphne and the fake
OpenAI Realtime, with no Twilio at all.

Chromium's fake microphone plays recorded speech (simulator/audio/callee.ulaw, as a WAV); the page captures it
in its AudioWorklet, turns it into 8 kHz mu-law and streams it as Twilio would. The fake OpenAI checks it heard that
speech (duration and energy of the audio appended to its input buffer); the page plays the bot's answer and returns
its marks; the bot ends the call with end_call, and the call's page shows the recording of a completed test call,
then (once the worker has processed it against the fake OpenAI REST) its transcript and extracted data.
"""
from __future__ import annotations

import base64
import math
import struct
import wave
from pathlib import Path

import pytest

from calls.live.relay import mulaw
from tests.browser.admin_login import logged_in_page
from tests.browser.test_live_call_page import CHROMIUM, CHROMIUM_ARGS, Background
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.openai_rest import OpenAIRestFake
from simulator.polling import wait_for
from simulator.speech import AUDIO_DIR
from tests.processes import Stack

pytestmark = pytest.mark.browser

SPEECH = AUDIO_DIR / "callee.ulaw"
OPENING_MS, GOODBYE_MS = 1000, 800
SPEECH_RMS_AT_LEAST = 500  # 16-bit scale: the recorded voice is louder than this on average; silence is 0
BOT_TONE_HZ = 523.0  # the fake Realtime server speaks in 523 Hz tones: the fake transcriber hears BOT_WORDS in them
BOT_WORDS = "Hola, soy Lucía, de la agencia."
CLIENT_WORDS = "Busco un piso en Madrid, mil euros al mes."  # what the fake transcriber hears in real speech
EXTRACTED = {"place": "Madrid", "budget": 1000, "other_requirements": None}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect


def speech_wav(path: Path) -> Path:
    """The recorded speech as a 16-bit 8 kHz mono WAV, what Chromium's fake microphone plays (looped)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(mulaw.decode(SPEECH.read_bytes()))
    return path


def rms(pcmu: bytes) -> float:
    samples = struct.unpack(f"<{len(pcmu)}h", mulaw.decode(pcmu))
    return math.sqrt(sum(sample * sample for sample in samples) / max(1, len(samples)))


@pytest.fixture
def system(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed: run scripts/ensure_chromium.sh as root (make test does)")
    background = Background()
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=1500, speech_ms=1000, transcript="Nada más, gracias.")],
        replies=[Reply(BOT_WORDS, audio_ms=OPENING_MS), Reply(end_call="informacion_completa"),
                 Reply("Gracias, adiós.", audio_ms=GOODBYE_MS)])
    realtime = FakeRealtimeServer(scenario)
    background.run(realtime.__aenter__())
    rest = OpenAIRestFake(api_key=realtime.api_key, voices={BOT_TONE_HZ: BOT_WORDS}, default_words=CLIENT_WORDS,
                          chat_answer=EXTRACTED).start()
    stack = Stack(tmp_path, extra_env={  # no Twilio: only OpenAI (the fakes)
        "OPENAI_BASE_URL": rest.base_url, "OPENAI_API_KEY": realtime.api_key,
        "OPENAI_REALTIME_BASE_URL": realtime.base_url.replace("http://", "ws://"),
        "CALL_DURATION_LIMIT": "0", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off", "PROCESSING_RETRY_BACKOFF": "0.1",
    })
    try:
        stack.prepare()
        stack.base_url = f"http://127.0.0.1:{stack.start_daphne()}"
        stack.start_worker()  # the test call's processing
        yield stack, realtime
    except BaseException:
        print(stack.logs())
        raise
    finally:
        background.run(realtime.__aexit__(None, None, None))
        background.close()
        rest.stop()
        stack.stop_all()


def test_staff_talk_to_the_bot_from_the_browser(system, tmp_path):
    stack, realtime = system
    microphone = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-audio-capture={speech_wav(tmp_path / 'speech.wav')}"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=[*CHROMIUM_ARGS, *microphone])
        page = logged_in_page(browser, stack.base_url, timeout_ms=20_000)
        page.goto("/admin/calls/call/")
        page.get_by_role("link", name="Try this script").click()
        page.get_by_role("button", name="Start").click()
        expect(page.locator("#try-state")).to_have_text("Connected: talk to the bot.")
        # The bot answers what it heard by ending the call (end_call), says goodbye, and the server closes.
        page.wait_for_function("window.voicebotTry.state === 'ended'", timeout=30_000)
        heard = page.evaluate("window.voicebotTry")
        expect(page.locator("#try-state")).to_have_text("The call has ended.")

        # The fake heard the page's speech: long enough for its turn, and a voice's energy, not silence.
        appended = b"".join(base64.b64decode(event["audio"])
                            for event in realtime.of_type("input_audio_buffer.append"))
        assert len(appended) >= 2500 * 8, len(appended)
        assert rms(appended) >= SPEECH_RMS_AT_LEAST, rms(appended)
        # The page played the bot's opening and goodbye, all of them, and returned their marks.
        assert heard["samplesPlayed"] == (OPENING_MS + GOODBYE_MS) * 8, heard
        assert heard["buffersPlayed"] > 0 and heard["marksEchoed"] >= 2 and heard["framesSent"] >= 125, heard

        page.get_by_role("link", name="Open the call").click()
        expect(page.locator(".call-test").first).to_have_text("Test")
        expect(page.get_by_text("Completed").first).to_be_visible()
        expect(page.locator("audio.call-audio")).to_have_count(1)
        expect(page.get_by_text("The bot said goodbye").first).to_be_visible()

        # Processed like a phone call: the worker transcribes the recording and extracts the data.
        def processed() -> bool:
            page.reload()
            extracted = page.locator(".call-extracted")
            return CLIENT_WORDS in page.content() and extracted.count() == 1 and "Madrid" in extracted.inner_text()

        wait_for(processed, timeout=60, interval=1, what="the test call's transcript and extracted data")
        expect(page.get_by_text(BOT_WORDS).first).to_be_visible()
        browser.close()
