"""The demo's simulated OpenAI REST service (simulator/demo.py) hears the recorded speech as its words, and extracts
what the callee asked for only from a conversation where they said it."""
import io
import json
import wave

import numpy as np
import pytest
import requests

from calls.live.relay.mulaw import decode
from simulator.demo import API_KEY, EXTRACTED, callee_speech, rest_service
from simulator.speech import BOT_SPEECH, BOT_WORDS, CALLEE_WORDS

SCHEMA = {"type": "object", "additionalProperties": False, "required": list(EXTRACTED),
          "properties": {name: {"type": ["string", "integer", "null"]} for name in EXTRACTED}}


def _wav(ulaw: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(8000)
        wav.writeframes(np.frombuffer(decode(ulaw), dtype="<i2").tobytes())
    return out.getvalue()


@pytest.fixture
def rest():
    with rest_service() as service:
        yield service


@pytest.mark.parametrize("speech, words", [(callee_speech(), CALLEE_WORDS), (BOT_SPEECH, BOT_WORDS)])
def test_each_recording_is_heard_as_its_words_once(rest, speech, words):
    answer = requests.post(f"{rest.base_url}/audio/transcriptions", headers={"Authorization": f"Bearer {API_KEY}"},
                           files={"file": ("channel.wav", _wav(speech), "audio/wav")},
                           data={"model": "whisper-1", "response_format": "verbose_json"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert [segment["text"].strip() for segment in answer.json()["segments"]] == [words]


@pytest.mark.parametrize("transcript, extracted", [
    (f"Bot: {BOT_WORDS}\nClient: {CALLEE_WORDS}", EXTRACTED),
    (f"Bot: {BOT_WORDS}", dict.fromkeys(EXTRACTED)),
])
def test_extraction_answers_what_the_callee_said(rest, transcript, extracted):
    answer = requests.post(f"{rest.base_url}/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"},
                           json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": transcript}],
                                 "response_format": {"type": "json_schema", "json_schema": {
                                     "name": "extraction", "strict": True, "schema": SCHEMA}}}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.json()["choices"][0]["message"]["content"]) == extracted
