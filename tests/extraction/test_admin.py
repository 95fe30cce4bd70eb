"""The calls admin after the call: processing in words, re-running it, extracted fields as list columns.

Processing really runs (django-q2 inline against the fake OpenAI REST server), so the tables are checked against
what the pipeline stores, not against hand-written JSON.
"""
from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from calls.models import Call
from tests.factories import CallFactory
from simulator.openai_rest import TRANSCRIPTIONS

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/calls/call/"
LIVE = [{"speaker": "bot", "text": "Hola.", "start_ms": 0, "end_ms": 900},
        {"speaker": "callee", "text": "Busco piso.", "start_ms": 1200, "end_ms": 2000}]


def change_url(call: Call) -> str:
    return f"/admin/calls/call/{call.pk}/change/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def processing_collapsed(html: str) -> bool:
    return re.search(r"<details><summary>\s*<h2[^>]*>Processing</h2>", html) is not None


def reprocess(client, calls, capture):
    with capture(execute=True):
        return client.post(LIST_URL, {"action": "reprocess", "_selected_action": [c.pk for c in calls]}, follow=True)


# Processing, readable

def test_it_shows_a_finished_processing_step_by_step_in_words(admin_client_logged, make_call, openai_fake, q_sync,
                                                              django_capture_on_commit_callbacks):
    call = make_call()
    reprocess(admin_client_logged, [call], django_capture_on_commit_callbacks)

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert '<span class="processing-status processing-status--done">Done</span> finished ' in html
    assert "Transcript taken from the recording (OpenAI speech-to-text)." in html
    for step in ("Load recording", "Speakers", "Transcribe", "Merge", "Extract"):
        assert re.search(rf"<td>{step}</td><td><span [^>]*>Done</span></td><td>\d+\.\d s</td><td>1</td>", html), step
    assert "Stereo recording: the channel is the speaker (left = Client, right = Bot)." in html
    assert "&quot;steps&quot;" not in html and '"steps"' not in html  # no raw JSON left
    assert processing_collapsed(html)


def test_it_opens_the_processing_section_and_says_what_failed(admin_client_logged, make_call, openai_fake, settings):
    from extraction.tasks import process_call

    settings.PROCESSING_MAX_ATTEMPTS = 2
    openai_fake.fail_next(TRANSCRIPTIONS, 10, status=503)
    call = make_call()
    process_call(call.pk)

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert '<span class="processing-status processing-status--failed">Failed</span> finished ' in html
    assert '<p class="call-processing__error">Transcribe failed: OpenAI speech-to-text answered 503' in html
    transcribe = re.search(r"<td>Transcribe</td>.*?</tr>", html).group(0)
    assert ">Failed</span>" in transcribe and "<td>2 (1 retry)</td>" in transcribe
    assert "OpenAI speech-to-text answered 503: The server had an error" in transcribe
    assert re.search(r"<td>Merge</td><td><span [^>]*>Not reached</span></td>.*An earlier step failed\.", html)
    assert not processing_collapsed(html)


def test_it_says_why_steps_were_skipped_and_when_processing_is_queued(admin_client_logged, settings):
    settings.TRANSCRIPT_SOURCE = "live"
    skipped = {"status": "skipped", "seconds": 0.0, "error": "", "attempts": 0,
               "reason": "TRANSCRIPT_SOURCE=live: the live transcript is used"}
    done = CallFactory(processing={"status": "done", "source": "live", "seconds": 0.2,
                                   "finished_at": timezone.now().isoformat(), "steps": {"load": skipped}})
    queued = CallFactory(processing={"status": "queued", "queued_at": timezone.now().isoformat()})

    html = admin_client_logged.get(change_url(done)).content.decode()
    assert "Transcript taken from the live transcript heard during the call." in html
    assert re.search(r"<td>Load recording</td><td><span [^>]*>Skipped</span></td><td>–</td><td>–</td>"
                     r"<td>TRANSCRIPT_SOURCE=live: the live transcript is used\.</td>", html)

    html = admin_client_logged.get(change_url(queued)).content.decode()
    assert ">Queued</span> waiting for a worker since " in html
    assert "Not processed yet." in admin_client_logged.get(change_url(CallFactory())).content.decode()


def test_it_shows_token_usage_and_call_measures_as_tables(admin_client_logged):
    call = CallFactory(
        token_usage={"responses": 2, "input_tokens": 1000, "output_tokens": 240, "total_tokens": 1240,
                     "input_token_details": {"audio_tokens": 800, "text_tokens": 200}},
        metrics={"duration_ms": 42000, "response_latency_ms": [640, 900], "response_latency_mean_ms": 770,
                 "response_latency_max_ms": 900, "barge_ins": 1},
    )

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert "<tr><th>Total tokens</th><td>1,240</td></tr>" in html
    assert "<tr><th>Input</th><td>audio 800, text 200</td></tr>" in html
    assert "<tr><th>Mean response time</th><td>770 ms</td></tr>" in html
    assert "<tr><th>Slowest response</th><td>900 ms</td></tr>" in html
    assert "<tr><th>Times the callee interrupted the bot</th><td>1</td></tr>" in html
    assert "<tr><th>Length of the conversation</th><td>42.0 s</td></tr>" in html


# Re-run: the list action and the call page's button

def test_the_action_reprocesses_calls_with_a_recording_and_says_which_were_skipped(
    admin_client_logged, make_call, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    with_recording = make_call()
    without = make_call(wav=False)
    deleted = make_call(wav=False, recording_deleted_at=timezone.now())

    response = reprocess(admin_client_logged, [with_recording, without, deleted], django_capture_on_commit_callbacks)

    shown = messages_of(response)
    assert "Queued 1 call(s) for transcription and extraction." in shown
    assert f"Skipped 1 call(s), no recording: {without.phone_number}." in shown
    assert any(m.startswith("Skipped 1 call(s), its recording was deleted on ") for m in shown)
    with_recording.refresh_from_db()
    assert with_recording.processing["status"] == "done" and len(with_recording.transcript) == 4
    assert with_recording.extracted_data["place"] == "Madrid"
    assert Call.objects.get(pk=without.pk).processing == {}


def test_the_action_uses_the_live_transcript_when_configured(admin_client_logged, make_call, openai_fake, q_sync,
                                                             settings, django_capture_on_commit_callbacks):
    settings.TRANSCRIPT_SOURCE = "live"
    heard = make_call(wav=False, live_transcript=LIVE)
    silent = make_call(wav=False)

    response = reprocess(admin_client_logged, [heard, silent], django_capture_on_commit_callbacks)

    assert f"Skipped 1 call(s), no live transcript (TRANSCRIPT_SOURCE=live): {silent.phone_number}." in \
        messages_of(response)
    heard.refresh_from_db()
    assert heard.processing["status"] == "done" and heard.processing["source"] == "live"


def test_the_action_leaves_a_call_that_is_already_being_processed(admin_client_logged, make_call,
                                                                  django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    running = {"status": "running", "started_at": timezone.now().isoformat()}
    call = make_call(processing=running)

    response = reprocess(admin_client_logged, [call], django_capture_on_commit_callbacks)

    assert f"Skipped 1 call(s), already waiting for or in processing: {call.phone_number}." in messages_of(response)
    assert OrmQ.objects.count() == 0 and Call.objects.get(pk=call.pk).processing == running


def test_the_call_page_button_reprocesses_the_call(admin_client_logged, make_call, openai_fake, q_sync,
                                                   django_capture_on_commit_callbacks):
    call = make_call()
    page = admin_client_logged.get(change_url(call)).content.decode()
    assert f'action="/admin/calls/call/{call.pk}/process/"' in page
    assert "Re-run transcription and extraction</button>" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged.post(f"/admin/calls/call/{call.pk}/process/", follow=True)

    assert response.redirect_chain == [(change_url(call), 302)]
    assert "Queued 1 call(s) for transcription and extraction." in messages_of(response)
    call.refresh_from_db()
    assert call.processing["status"] == "done"


def test_the_button_needs_a_post_a_csrf_token_and_the_rerun_permission(make_call, staff_without_role):
    from django_q.models import OrmQ

    call = make_call()
    url = f"/admin/calls/call/{call.pk}/process/"
    staff_without_role.user_permissions.add(Permission.objects.get(codename="view_call"))
    viewer = Client()
    viewer.force_login(staff_without_role)
    assert viewer.post(url).status_code == 403
    assert "Re-run transcription" not in viewer.get(change_url(call)).content.decode()

    staff_without_role.user_permissions.add(Permission.objects.get(codename="rerun_processing"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_without_role)
    assert strict.post(url).status_code == 403  # no CSRF token
    assert strict.get(url).status_code == 405
    assert OrmQ.objects.count() == 0 and Call.objects.get(pk=call.pk).processing == {}


# Extracted fields as columns

def test_the_list_has_a_column_per_field_of_a_custom_schema(admin_client_logged, settings):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.ViewingRequest"
    CallFactory(extracted_data={"preferred_day": "martes", "wants_viewing": True, "place": "Madrid"})
    CallFactory(extracted_data={})

    html = admin_client_logged.get(LIST_URL).content.decode()

    assert re.search(r'column-extracted_wants_viewing">.*?<span>Wants viewing</span>.*?'
                     r'column-extracted_preferred_day">.*?<span>Preferred day</span>', html, re.S)
    assert '<td class="field-extracted_wants_viewing">Yes</td><td class="field-extracted_preferred_day">martes' in html
    assert '<td class="field-extracted_wants_viewing">–</td><td class="field-extracted_preferred_day">–</td>' in html
    assert '<td class="field-extracted_summary">Place: Madrid</td>' in html  # no column for it: shown aside
    assert "column-extracted_budget" not in html


def test_the_list_still_opens_with_a_broken_schema_setting(admin_client_logged, settings):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.NotAModel"
    CallFactory(extracted_data={"place": "Madrid"})

    html = admin_client_logged.get(LIST_URL).content.decode()

    assert '<td class="field-extracted_summary">Place: Madrid</td>' in html


def test_the_export_follows_the_schema_order_and_escapes_formulas(admin_client_logged, settings):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.ViewingRequest"
    call = CallFactory(extracted_data={"legacy": "x", "preferred_day": "=1+1", "wants_viewing": False})

    response = admin_client_logged.post(LIST_URL, {"action": "export_xlsx", "_selected_action": [call.pk]})
    header, row = load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True)

    assert header[6:] == ("Wants Viewing", "Preferred Day", "Legacy", "Cost")
    assert row[6:] == (False, "'=1+1", "x", None)



def test_the_call_page_lists_the_schema_fields_in_order_then_older_ones(admin_client_logged, settings):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.ViewingRequest"
    call = CallFactory(extracted_data={"legacy": "x", "preferred_day": "martes", "wants_viewing": False})

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert ('<table class="call-extracted"><tr><th>Wants viewing</th><td>No</td></tr>'
            "<tr><th>Preferred day</th><td>martes</td></tr><tr><th>Legacy</th><td>x</td></tr></table>") in html


def test_the_list_has_no_other_data_column_when_every_value_has_its_own(admin_client_logged):
    CallFactory(extracted_data={"place": "Madrid", "budget": 900})

    html = admin_client_logged.get(LIST_URL).content.decode()

    assert '<td class="field-extracted_place">Madrid</td>' in html
    assert "Other extracted data" not in html and "field-extracted_summary" not in html
