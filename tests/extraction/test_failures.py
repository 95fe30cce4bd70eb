"""Retries, permanent failures and what a failed step leaves on the call."""
from __future__ import annotations

import sys

import pytest

from extraction.tasks import process_call
from tests.extraction.sounds import CLIENT_SCRIPT, track, wav_bytes
from simulator.openai_rest import CHAT, TRANSCRIPTIONS

pytestmark = pytest.mark.django_db

LIVE = [{"speaker": "Bot", "text": "Hola.", "start_ms": 0, "end_ms": 900}]


def processed(call):
    process_call(call.pk)
    call.refresh_from_db()
    return call


def test_it_retries_transient_openai_errors_and_counts_the_attempts(make_call, openai_fake):
    openai_fake.fail_next(TRANSCRIPTIONS, 2, status=503)
    openai_fake.fail_next(CHAT, 1, status=500)

    call = processed(make_call())

    assert call.processing["status"] == "done"
    assert call.processing["steps"]["transcribe"]["attempts"] == 3
    assert call.processing["steps"]["transcribe"]["requests"] == 4  # 2 failures + 2 channels
    assert call.processing["steps"]["extract"]["attempts"] == 2
    assert call.extracted_data["place"] == "Madrid"


def test_it_waits_longer_before_each_retry(make_call, openai_fake, settings):
    import time

    settings.PROCESSING_RETRY_BACKOFF = 0.2
    openai_fake.fail_next(CHAT, 2, status=503)
    started = time.monotonic()

    call = processed(make_call())

    assert call.processing["status"] == "done"
    assert time.monotonic() - started >= 0.6  # 0.2 s then 0.4 s


def test_it_gives_up_after_the_configured_attempts_and_keeps_the_recording(make_call, openai_fake, settings):
    settings.PROCESSING_MAX_ATTEMPTS = 2
    openai_fake.fail_next(TRANSCRIPTIONS, 10, status=503)
    call = make_call(live_transcript=LIVE)
    recording_name = call.recording.name

    call = processed(call)

    assert call.processing["status"] == "failed"
    step = call.processing["steps"]["transcribe"]
    assert step["status"] == "failed" and step["attempts"] == 2
    assert step["error"] == "OpenAI speech-to-text answered 503: The server had an error while processing your " \
                            "request. Sorry about that!"
    assert call.extraction_error.startswith("transcribe failed: OpenAI speech-to-text answered 503")
    assert "merge" not in call.processing["steps"] and openai_fake.of(CHAT) == []
    assert call.recording.name == recording_name and call.recording.storage.exists(recording_name)
    assert call.live_transcript == LIVE


def test_it_does_not_retry_a_bad_request(make_call, openai_fake, settings):
    settings.OPENAI_STT_MODEL = "whisper-9000"

    call = processed(make_call())

    assert len(openai_fake.of(TRANSCRIPTIONS)) == 1
    assert call.processing["steps"]["transcribe"]["attempts"] == 1
    assert "answered 400: Invalid model 'whisper-9000'" in call.extraction_error


def test_it_records_a_wrong_api_key_without_retrying(make_call, openai_fake, settings):
    settings.OPENAI_API_KEY = "sk-wrong"

    call = processed(make_call())

    assert len(openai_fake.requests) == 1
    assert "answered 401: Incorrect API key provided." in call.extraction_error


def test_it_records_a_missing_api_key_as_a_configuration_error(make_call, openai_fake, settings):
    settings.OPENAI_API_KEY = ""

    call = processed(make_call())

    assert call.processing["status"] == "failed"
    assert "OPENAI_API_KEY is not set" in call.extraction_error
    assert openai_fake.requests == []


def test_it_records_a_refusal_as_the_error_not_as_data(make_call, openai_fake):
    openai_fake.chat_scenario = "refusal"

    call = processed(make_call())

    assert call.extracted_data == {}
    assert call.extraction_error == "extract failed: the model refused to extract: " + openai_fake.refusal
    assert call.processing["steps"]["extract"]["attempts"] == 1
    assert len(call.transcript) == 4  # the transcript is still stored


def test_it_records_invalid_model_output_as_the_error(make_call, openai_fake):
    openai_fake.chat_scenario = "invalid"

    call = processed(make_call())

    assert call.extracted_data == {}
    assert call.extraction_error.startswith("extract failed: the model's answer does not fit ClientInfoExtraction")


def test_a_failed_rerun_clears_data_that_no_longer_matches_the_new_transcript(make_call, openai_fake):
    call = processed(make_call())
    assert call.extracted_data["place"] == "Madrid"
    openai_fake.chat_scenario = "refusal"

    call = processed(call)

    assert call.extracted_data == {} and call.processing["status"] == "failed"


def test_it_explains_a_mono_recording_without_pyannote_and_pays_for_nothing(make_call, openai_fake, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyannote", None)  # as if the optional extra were not installed
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)
    mono = wav_bytes(track(CLIENT_SCRIPT, 9.0))

    call = processed(make_call(wav=mono))

    assert call.processing["status"] == "failed"
    assert call.processing["steps"]["diarize"]["status"] == "failed"
    assert "this recording is mono" in call.extraction_error
    assert "pyannote.audio is not installed" in call.extraction_error
    assert "scripts/install_diarization.sh" in call.extraction_error
    assert call.processing["steps"]["transcribe"]["status"] == "skipped"
    assert openai_fake.requests == []


def test_it_explains_a_mono_recording_when_diarization_is_off(make_call, openai_fake, settings):
    settings.DIARIZATION_BACKEND = "none"

    call = processed(make_call(wav=wav_bytes(track(CLIENT_SCRIPT, 9.0))))

    assert "diarization, which is disabled (DIARIZATION_BACKEND='none')" in call.extraction_error


def test_it_explains_a_file_that_is_not_a_wav(make_call, openai_fake):
    call = processed(make_call(wav=b"ID3\x03 not a wav at all"))

    assert call.processing["steps"]["load"]["status"] == "failed"
    assert call.extraction_error.startswith("load failed: the recording cannot be read: not a readable WAV file")


def test_it_explains_a_call_without_recording(make_call, openai_fake):
    call = processed(make_call(wav=False))

    assert "the call has no recording; set TRANSCRIPT_SOURCE=live" in call.extraction_error
