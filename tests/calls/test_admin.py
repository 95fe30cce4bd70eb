"""CallAdmin through Django's test client: the list, search, the read-only call page, exports."""
import csv
import io

import pytest
from django.core.files.base import ContentFile
from openpyxl import load_workbook

from calls.models import CallEvent
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/calls/call/"


def change_url(call) -> str:
    return f"/admin/calls/call/{call.pk}/change/"


def test_it_lists_calls_with_badge_duration_and_extracted_summary(admin_client_logged):
    CallFactory(contact=ContactFactory(name="Ana", phone_number="+34600123456"), status="completed",
                duration=125.4, end_reason="bot_hangup", extracted_data={"place": "Madrid", "budget": 900})

    html = admin_client_logged.get(LIST_URL).content.decode()

    assert "Ana (+34600123456)" in html
    assert '<span class="call-status call-status--completed">Completed</span>' in html
    assert "2:05" in html
    # One column per field of the extraction schema (tests/extraction/test_admin.py has a custom schema).
    assert '<td class="field-extracted_place">Madrid</td><td class="field-extracted_budget">900</td>' in html
    assert "The bot said goodbye" in html
    assert "calls/admin.css" in html


def test_it_filters_by_status(admin_client_logged):
    CallFactory(contact=ContactFactory(name="Done"), status="completed")
    CallFactory(contact=ContactFactory(name="Busy"), status="busy")

    html = admin_client_logged.get(LIST_URL, {"status__exact": "busy"}).content.decode()

    assert "Busy (" in html and "Done (" not in html


@pytest.mark.parametrize("term", ["600 123 456", "0034600123456", "madrid", "MADRID"])
def test_it_searches_by_phone_in_any_format_and_by_extracted_value(admin_client_logged, term):
    CallFactory(contact=ContactFactory(name="Wanted", phone_number="+34600123456"), extracted_data={"place": "Madrid"})
    CallFactory(contact=ContactFactory(name="Other", phone_number="+34699999999"), extracted_data={"place": "Sevilla"})

    response = admin_client_logged.get(LIST_URL, {"q": term})

    assert response.status_code == 200
    assert [call.contact.name for call in response.context["cl"].result_list] == ["Wanted"]


def test_it_shows_a_read_only_call_page_with_player_transcripts_and_timeline(admin_client_logged):
    call = CallFactory(
        extracted_data={"place": "Madrid"},
        live_transcript=[{"speaker": "bot", "text": "Hola, ¿busca piso?", "start_ms": 500, "end_ms": 900},
                         {"speaker": "callee", "text": "<b>Sí</b>", "start_ms": 65000, "end_ms": 66000}],
        transcript=[{"speaker": "Bot", "text": "Hola", "start": 0.5}, {"speaker": "Client", "text": "Sí", "start": 2}],
    )
    call.recording.save("CA1.wav", ContentFile(b"RIFF"))
    CallEvent.objects.create(call=call, kind="status:ringing", detail={"sequence": 1})

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert f'<audio class="call-audio" controls preload="metadata" src="/{call.recording.name}">' in html
    assert "<strong>Bot:</strong> Hola, ¿busca piso?" in html
    assert '<span class="call-turn__at">1:05</span> <strong>Client:</strong> &lt;b&gt;Sí&lt;/b&gt;' in html
    assert "status:ringing" in html
    assert 'name="_save"' not in html  # nothing to edit: Twilio and the pipeline write every field


def test_the_timeline_names_every_kind_of_event_in_words(admin_client_logged):
    call = CallFactory()
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.RECORDING_RECOVERED, detail={"recording": "r.wav"})
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.DTMF, detail={"digit": "5"})

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert "Recording recovered after a restart" in html and "Key pressed" in html
    assert all(kind.label and kind.label != kind.value for kind in CallEvent.Kind)


def test_the_timeline_shows_what_a_tool_was_asked_and_answered_and_whether_the_filler_was_said(admin_client_logged):
    call = CallFactory()
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.TOOL_CALLED, detail={
        "name": "check_availability", "arguments": {"date": "2026-12-01"}, "result": {"free": True},
        "duration_ms": 2104, "at_ms": 8000, "filler": True})

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert "The bot used a tool" in html and "check_availability" in html and "2026-12-01" in html
    assert "Filler line said: yes" in html


def test_it_falls_back_to_the_conversation_text(admin_client_logged):
    call = CallFactory(conversation="Bot: Buenas tardes\nClient: Hola")

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert "<strong>Bot:</strong> Buenas tardes" in html
    assert "<strong>Client:</strong> Hola" in html
    assert "No recording" in html


def test_it_ignores_a_post_to_the_call_page(admin_client_logged):
    call = CallFactory(status="completed", extracted_data={"place": "Madrid"})

    response = admin_client_logged.post(change_url(call), {"status": "failed", "extracted_data": "{}"})

    assert response.status_code == 403
    call.refresh_from_db()
    assert call.status == "completed" and call.extracted_data == {"place": "Madrid"}


def test_it_has_no_add_page(admin_client_logged):
    assert admin_client_logged.get("/admin/calls/call/add/").status_code == 403
    assert "/admin/calls/call/add/" not in admin_client_logged.get(LIST_URL).content.decode()


def export(client, action: str, calls) -> bytes:
    response = client.post(LIST_URL, {"action": action, "_selected_action": [call.pk for call in calls]})
    assert response.status_code == 200, response.content[:500]
    assert 'attachment; filename="call_history_' in response["Content-Disposition"]
    return response.content


def test_it_exports_selected_calls_to_xlsx_with_formulas_escaped(admin_client_logged):
    chosen = CallFactory(contact=ContactFactory(phone_number="+34600123456"), duration=61,
                         extracted_data={"place": "=HYPERLINK(\"x\")"})
    CallFactory()

    sheet = load_workbook(io.BytesIO(export(admin_client_logged, "export_xlsx", [chosen]))).active
    header, *rows = list(sheet.iter_rows(values_only=True))

    assert header[:6] == ("Call Sid", "Phone Number", "Timestamp", "Call Status", "Call Duration", "Conversation")
    assert header[6] == "Place"
    assert len(rows) == 1
    assert rows[0][1] == "+34600123456" and rows[0][4] == "1:01" and rows[0][6] == "'=HYPERLINK(\"x\")"


def test_it_exports_selected_calls_to_csv_with_formulas_escaped(admin_client_logged):
    chosen = CallFactory(conversation="-2+3", extracted_data={"budget": 900})

    content = export(admin_client_logged, "export_csv", [chosen]).decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(content)))

    assert header[-2:] == ["Budget", "Cost"]
    assert row[0] == chosen.twilio_sid and row[5] == "'-2+3" and row[6] == "900" and row[7] == ""


def test_transcript_lines_carry_where_the_player_should_seek(admin_client_logged):
    call = CallFactory(transcript=[{"speaker": "Bot", "text": "Hola", "start": 0.5},
                                   {"speaker": "Client", "text": "Sí", "start": 62.25}])

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert 'data-seconds="0.50"' in html and 'data-seconds="62.25"' in html
    assert "calls/transcript_seek.js" in html


def test_it_filters_by_processing_state(admin_client_logged):
    CallFactory(contact=ContactFactory(name="Broken"), processing={"status": "failed", "error": "boom"})
    CallFactory(contact=ContactFactory(name="Fine"), processing={"status": "done"})
    CallFactory(contact=ContactFactory(name="Never"), processing={})

    def names(value: str) -> set[str]:
        response = admin_client_logged.get(LIST_URL, {"processing": value})
        return {call.contact.name for call in response.context["cl"].result_list}

    assert names("failed") == {"Broken"}
    assert names("done") == {"Fine"}
    assert names("none") == {"Never"}
    assert "Processing failed" in admin_client_logged.get(LIST_URL).content.decode()


def test_the_call_page_links_the_newer_and_older_calls(admin_client_logged):
    older, middle, newer = CallFactory(), CallFactory(), CallFactory()  # created in this order

    html = admin_client_logged.get(change_url(middle)).content.decode()
    assert f'href="{change_url(newer)}" rel="prev"' in html and f'href="{change_url(older)}" rel="next"' in html

    html = admin_client_logged.get(change_url(newer)).content.decode()
    assert 'rel="prev"' not in html and f'href="{change_url(middle)}" rel="next"' in html


def test_the_call_page_shows_its_transfer_to_a_person(admin_client_logged):
    call = CallFactory(end_reason="transferred", transfer={"reason": "ventas", "to": "+34910000001",
                                                           "outcome": "answered", "dial_duration": 42})
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.TRANSFER_OUTCOME, detail={"outcome": "answered"})

    html = admin_client_logged.get(change_url(call)).content.decode()

    assert "ventas → +34910000001: answered (42 s)" in html
    assert "Transfer answered or not" in html and "Transferred to a person" in html
    assert "ventas → " not in admin_client_logged.get(change_url(CallFactory())).content.decode()
