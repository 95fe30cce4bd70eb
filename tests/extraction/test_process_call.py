"""The whole post-call chain through django-q2 (inline), against the fake OpenAI REST server."""
from __future__ import annotations

import pytest

from calls.models import Call
from extraction.services import process_call_enqueue
from simulator.openai_rest import CHAT, TRANSCRIPTIONS

pytestmark = pytest.mark.django_db

EXPECTED_TURNS = [
    {"speaker": "Bot", "text": "Hola, le llamo de la inmobiliaria.", "start_ms": 500, "end_ms": 2000},
    {"speaker": "Client", "text": "Busco un piso en Madrid, cerca del centro.", "start_ms": 2500, "end_ms": 4500},
    {"speaker": "Bot", "text": "¿En qué zona busca vivienda?", "start_ms": 5000, "end_ms": 6000},
    {"speaker": "Client", "text": "Mi presupuesto es de mil euros al mes.", "start_ms": 6500, "end_ms": 8000},
]


def run_through_queue(call: Call, capture) -> Call:
    with capture(execute=True):
        process_call_enqueue(call=call)
    call.refresh_from_db()
    return call


def test_it_turns_a_stereo_recording_into_labelled_turns_and_data(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)

    assert call.processing["status"] == "done", call.processing
    assert call.transcript == EXPECTED_TURNS
    assert call.conversation.splitlines() == [f"{t['speaker']}: {t['text']}" for t in EXPECTED_TURNS]
    assert call.extracted_data == {"place": "Madrid", "budget": 1000, "other_requirements": None}
    assert call.extraction_error == ""
    assert [call.processing["steps"][name]["status"] for name in ("load", "diarize", "transcribe", "merge",
                                                                 "extract")] == ["done"] * 5


def test_it_sends_each_channel_to_speech_to_text_with_the_documented_parameters(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks, settings
):
    run_through_queue(make_call(), django_capture_on_commit_callbacks)

    uploads = openai_fake.of(TRANSCRIPTIONS)
    assert len(uploads) == 2  # one per channel
    for upload in uploads:
        assert upload.fields["model"] == "whisper-1"
        assert upload.fields["language"] == "es"
        assert upload.fields["response_format"] == "verbose_json"
        assert upload.fields["timestamp_granularities[]"] == ["segment"]
        assert "Lavapiés" in upload.fields["prompt"]  # the vocabulary from AI/prompts/transcription.yaml
        assert upload.headers["Authorization"] == f"Bearer {settings.OPENAI_API_KEY}"


def test_with_model_language_auto_no_language_is_sent_so_it_is_detected(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks, settings
):
    settings.TRANSCRIPTION_LANGUAGE = ""  # what MODEL_LANGUAGE=auto sets
    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)

    assert call.processing["status"] == "done", call.processing
    uploads = openai_fake.of(TRANSCRIPTIONS)
    assert len(uploads) == 2 and all("language" not in upload.fields for upload in uploads)


def test_it_gives_the_extraction_model_the_speaker_labelled_transcript_and_a_strict_schema(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    run_through_queue(make_call(), django_capture_on_commit_callbacks)

    (request,) = openai_fake.of(CHAT)
    body = request.fields
    assert body["model"] == "gpt-4o-mini"
    system, user = body["messages"]
    assert system["role"] == "system" and "Client" in system["content"]  # AI/prompts/extraction.yaml
    assert "Bot: Hola, le llamo de la inmobiliaria.\nClient: Busco un piso en Madrid" in user["content"]
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert sorted(schema["schema"]["properties"]) == ["budget", "other_requirements", "place"]


def test_it_stores_empty_fields_as_null_rather_than_inventing_them(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    openai_fake.chat_answer = {}
    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)

    assert call.extracted_data == {"place": None, "budget": None, "other_requirements": None}
    schema = openai_fake.of(CHAT)[0].fields["response_format"]["json_schema"]["schema"]
    assert all("null" in str(prop) for prop in schema["properties"].values())  # every field may be empty


def test_it_runs_the_task_in_django_q_and_records_it(make_call, openai_fake, q_sync,
                                                     django_capture_on_commit_callbacks):
    from django_q.models import Task

    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)

    task = Task.objects.get(name=f"process-call-{call.pk}")
    assert task.func == "extraction.tasks.process_call" and task.success and task.result == "done"


def test_it_redoes_a_processed_call_cleanly(make_call, openai_fake, q_sync, django_capture_on_commit_callbacks):
    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)
    first = (call.transcript, call.conversation, call.extracted_data)

    call = run_through_queue(call, django_capture_on_commit_callbacks)

    assert (call.transcript, call.conversation, call.extracted_data) == first
    assert len(call.transcript) == 4  # replaced, not appended
    assert call.processing["status"] == "done"
    assert len(openai_fake.of(TRANSCRIPTIONS)) == 4 and len(openai_fake.of(CHAT)) == 2


def test_it_uses_the_live_transcript_when_configured(make_call, openai_fake, q_sync, settings,
                                                     django_capture_on_commit_callbacks):
    settings.TRANSCRIPT_SOURCE = "live"
    live = [
        {"speaker": "bot", "text": "Hola, ¿busca piso?", "start_ms": 0, "end_ms": 1500},
        {"speaker": "client", "text": "Sí, en Sevilla.", "start_ms": 1800, "end_ms": 2600},
        {"speaker": "client", "text": "Hasta 700 euros.", "start_ms": 2700, "end_ms": 3500},
        {"speaker": "bot", "text": "  ", "start_ms": 3600, "end_ms": 3700},
    ]
    call = run_through_queue(make_call(live_transcript=live), django_capture_on_commit_callbacks)

    assert openai_fake.of(TRANSCRIPTIONS) == []
    assert call.transcript == [
        {"speaker": "Bot", "text": "Hola, ¿busca piso?", "start_ms": 0, "end_ms": 1500},
        {"speaker": "Client", "text": "Sí, en Sevilla. Hasta 700 euros.", "start_ms": 1800, "end_ms": 3500},
    ]
    assert call.live_transcript == live
    assert call.processing["source"] == "live" and call.processing["steps"]["transcribe"]["status"] == "skipped"
    assert "Client: Sí, en Sevilla." in openai_fake.of(CHAT)[0].fields["messages"][1]["content"]


def test_it_extracts_a_custom_schema_named_in_settings(make_call, openai_fake, q_sync, settings,
                                                       django_capture_on_commit_callbacks):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.ViewingRequest"
    openai_fake.chat_answer = {"wants_viewing": True, "preferred_day": "martes"}

    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)

    assert call.extracted_data == {"wants_viewing": True, "preferred_day": "martes"}
    schema = openai_fake.of(CHAT)[0].fields["response_format"]["json_schema"]
    assert sorted(schema["schema"]["properties"]) == ["preferred_day", "wants_viewing"]
    assert "Whether the client asked to visit a flat." in openai_fake.of(CHAT)[0].fields["messages"][1]["content"]


def test_it_records_a_schema_setting_that_is_not_a_model(make_call, openai_fake, q_sync, settings,
                                                         django_capture_on_commit_callbacks):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.NotAModel"

    call = run_through_queue(make_call(), django_capture_on_commit_callbacks)

    assert call.processing["status"] == "failed"
    assert "is not a Pydantic model class" in call.extraction_error
    assert call.transcript == EXPECTED_TURNS  # the steps before extraction are kept


def test_it_skips_extraction_when_nobody_spoke(make_call, openai_fake, q_sync, django_capture_on_commit_callbacks):
    from tests.extraction.sounds import track, wav_bytes

    silence = wav_bytes(track([], 5.0), track([], 5.0))
    call = run_through_queue(make_call(wav=silence), django_capture_on_commit_callbacks)

    assert openai_fake.requests == []  # silent channels are not uploaded, and there is nothing to extract
    assert call.transcript == [] and call.extracted_data == {}
    assert call.processing["status"] == "done"
    assert call.processing["steps"]["extract"] == {
        "status": "skipped", "seconds": 0.0, "error": "", "attempts": 0,
        "reason": "nothing to extract: the transcript is empty (nobody said anything)",
    }
    assert "transcript is empty" in call.extraction_error


def test_it_does_nothing_for_a_call_that_was_deleted(db, openai_fake):
    from extraction.tasks import process_call

    assert process_call(987654) == "missing"
    assert openai_fake.requests == []
