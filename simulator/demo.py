"""The demo's simulated world, on loopback ports of its own: Twilio (REST, signed callbacks, phones whose callees
answer with recorded speech) and OpenAI (a Realtime bot that speaks recorded speech in a short script ending in
`end_call`; a REST service that transcribes each side of the recording to the words said in it and extracts what
the callee asked for).

The conversation: the bot says its line (audio/bot.ulaw), the callee answers once it has finished (audio/callee.ulaw),
the bot ends the call. Started by `python -m simulator` (demo mode only), which `manage.py demo` runs.
"""
import asyncio
from collections.abc import Callable

import numpy as np

from calls.live.relay.mulaw import decode
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.openai_rest import OpenAIRestFake, voiced_seconds
from simulator.phone import SimulatedPhones
from simulator.speech import BOT_SPEECH, BOT_WORDS, CALLEE_SPEECH, CALLEE_WORDS
from simulator.twilio import FakeTwilio
from simulator.twilio_media import SILENCE

API_KEY = "sk-demo-simulated-openai"
UTTERANCE_GAP_S = 0.5  # the recordings' pauses between phrases are shorter: each is one utterance
CALLEE_WAITS_MS = 5000  # the callee speaks once the bot's line (4.3 s) has played
# What the callee said, as the default extraction schema (AI/prompts/extraction.yaml) holds it: the answer to a
# transcript with their words (to any other, every field is empty).
EXTRACTED = {"place": "Madrid", "budget": 1000, "other_requirements": "Cerca del centro."}
# The address Twilio's signed URLs name: https (wss for the media stream), as Twilio requires of a real one, on a
# reserved name that exists nowhere (.invalid). The phones deliver to the product's loopback address instead.
PUBLIC_ADDRESS = "https://voicebot-demo.invalid"


def conversation() -> RealtimeScenario:
    """The bot's side: its line, then (once the callee has spoken) `end_call`, and a silent goodbye."""
    callee = CalleeTurn(after_ms=CALLEE_WAITS_MS, speech_ms=len(CALLEE_SPEECH) // 8, transcript=CALLEE_WORDS)
    return RealtimeScenario(api_key=API_KEY, callee_turns=[callee], replies=[
        Reply(BOT_WORDS, audio=BOT_SPEECH), Reply(end_call="informacion_completa"), Reply("", audio=b"")])


def callee_speech() -> bytes:
    """What every callee says from the moment they answer: silence while the bot speaks, then their words."""
    return SILENCE * (CALLEE_WAITS_MS // 20) + CALLEE_SPEECH


def _seconds(speech: bytes) -> float:
    return voiced_seconds(np.frombuffer(decode(speech), dtype="<i2"), 8000, UTTERANCE_GAP_S)


def rest_service() -> OpenAIRestFake:
    """OpenAI's REST service: each recording heard as its words, the callee's words extracted."""
    phrases = {_seconds(CALLEE_SPEECH): CALLEE_WORDS, _seconds(BOT_SPEECH): BOT_WORDS}
    return OpenAIRestFake(api_key=API_KEY, phrases=phrases, max_gap_s=UTTERANCE_GAP_S, chat_answer=EXTRACTED,
                          chat_heard=CALLEE_WORDS)


async def simulate(*, product_url: str, ready: Callable[[dict[str, str]], None]) -> None:
    """Run the simulated services for the product at `product_url` until cancelled; `ready` gets the environment
    that points the product at them, once they listen."""
    with rest_service() as rest, FakeTwilio(public_base_url=PUBLIC_ADDRESS) as twilio:
        async with FakeRealtimeServer(conversation()) as realtime, \
                SimulatedPhones(twilio, product_url, speech=callee_speech(), ring_s=2.0, hang_up_after_s=60):
            ready({**twilio.voicebot_env(), "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": rest.base_url,
                   "OPENAI_REALTIME_BASE_URL": realtime.base_url.replace("http://", "ws://")})
            await asyncio.Event().wait()
