"""The typed readers of the JSON voicebot stores on a call, and the pages that read through them.

Each reader is the one place that tolerates a shape the app no longer writes (an older version's, or a row edited
by hand): the call page, the list and the exports still open, showing what can be read.
"""
import pytest

from calls.models import CallEvent, CallMeasures
from extraction.schemas import ExtractedData
from extraction.services import ProcessingRecord
from extraction.steps import StepRecord
from extraction.turns import StoredTurn, stored_turns, turns_from_live
from tests.factories import CallFactory

BAD_SHAPES = [None, "text", 3, True, ["a", "list"]]


def test_a_processing_record_reads_what_process_call_run_writes():
    record = ProcessingRecord.from_stored({
        "status": "failed", "source": "openai", "started_at": "2026-01-02T03:04:05+00:00", "seconds": 2.5,
        "error": "extract: quota", "steps": {"load": {"status": "done", "seconds": 0.1, "attempts": 1},
                                             "extract": {"status": "failed", "error": "quota", "attempts": 3}},
    })
    assert record.is_failed and not record.is_pending and record.seconds == 2.5
    assert record.steps["extract"] == StepRecord(status="failed", error="quota", attempts=3)
    assert record.pending_since.year == 2026


@pytest.mark.parametrize("stored", BAD_SHAPES)
def test_a_processing_record_of_another_shape_reads_as_never_processed(stored):
    assert ProcessingRecord.from_stored(stored) == ProcessingRecord()


def test_a_processing_record_tolerates_bad_values_inside():
    record = ProcessingRecord.from_stored({"status": "queued", "queued_at": "yesterday", "seconds": "2",
                                           "steps": {"load": "done", "merge": {"attempts": "2", "notes": "x"}}})
    assert record.is_pending and record.pending_since is None and record.seconds is None
    assert record.steps == {"load": None, "merge": StepRecord()}


def test_stored_turns_read_ours_older_shapes_and_skip_the_rest():
    turns = stored_turns([
        {"speaker": "bot", "text": "Hola", "start_ms": 500, "end_ms": 900},
        {"role": "user", "content": "Sí", "start": 2},
        "a plain line",
        42,
        {"speaker": "callee", "text": "", "start_ms": True},
    ])
    assert turns == [
        StoredTurn(speaker="bot", text="Hola", start_seconds=0.5, end_seconds=0.9),
        StoredTurn(speaker="user", text="Sí", start_seconds=2),
        StoredTurn(speaker="", text="a plain line"),
        StoredTurn(speaker="callee", text=""),
    ]
    assert turns[0].is_bot and not turns[1].is_bot


@pytest.mark.parametrize("stored", BAD_SHAPES[:4] + [{"speaker": "bot"}])
def test_a_transcript_of_another_shape_has_no_turns(stored):
    assert stored_turns(stored) == []
    assert turns_from_live(stored) == []


@pytest.mark.parametrize("stored", BAD_SHAPES)
def test_extracted_data_and_measures_of_another_shape_read_as_empty(stored):
    assert ExtractedData.from_stored(stored).values == {}
    assert CallMeasures.from_stored(stored).values == {}


@pytest.mark.django_db
@pytest.mark.parametrize("stored", BAD_SHAPES[1:])  # the columns are NOT NULL
def test_the_call_page_list_and_export_open_whatever_was_stored(admin_client_logged, stored):
    call = CallFactory(processing=stored, transcript=stored, live_transcript=stored, extracted_data=stored,
                       token_usage=stored, metrics=stored)
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.FAILED, detail=stored)
    assert admin_client_logged.get(f"/admin/calls/call/{call.pk}/change/").status_code == 200
    assert admin_client_logged.get("/admin/calls/call/").status_code == 200
    export = admin_client_logged.post("/admin/calls/call/", {"action": "export_csv", "_selected_action": [call.pk]})
    assert export.status_code == 200


@pytest.mark.django_db
def test_an_event_detail_that_is_not_an_object_is_still_shown(admin_client_logged):
    call = CallFactory()
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.FAILED, detail="Twilio said no")
    html = admin_client_logged.get(f"/admin/calls/call/{call.pk}/change/").content.decode()
    assert "Detail: Twilio said no" in html
