"""Fixtures for post-call processing: the fake OpenAI REST server wired into settings, calls with recordings."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.files.base import ContentFile

from calls.models import Call, CallStatus
from tests.extraction.sounds import VOICES, call_wav
from tests.factories import CallFactory
from simulator.openai_rest import OpenAIRestFake


@pytest.fixture
def openai_fake(settings) -> Iterator[OpenAIRestFake]:
    fake = OpenAIRestFake(voices=dict(VOICES), chat_answer={"place": "Madrid", "budget": 1000})
    with fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = fake.api_key
        settings.PROCESSING_RETRY_BACKOFF = 0.0
        settings.TRANSCRIPT_SOURCE = "openai"
        yield fake


@pytest.fixture
def make_call(db) -> Callable[..., Call]:
    def make(wav: bytes | None = None, **fields: object) -> Call:
        call = CallFactory(status=CallStatus.COMPLETED, **fields)
        if wav is not False:
            call.recording.save(f"{call.twilio_sid}.wav", ContentFile(wav or call_wav()), save=True)
        return call

    return make
