"""A call's cost, end to end: the Realtime usage the relay summed, the status callback's duration and the post-call
processing against the fake OpenAI REST server, priced by hand here and read back from the admin, API and export."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from calls.live.relay.transcript import Metrics
from calls.models import Call, CallStatus
from calls.review.exports import call_history_csv
from calls.services import call_update_status
from calls.services.streaming import call_relay_event_record
from tests.extraction.sounds import call_wav
from tests.factories import CallFactory
from simulator.openai_realtime import Reply
from simulator.openai_rest import CHAT, TRANSCRIPTIONS

pytestmark = pytest.mark.django_db

# gpt-realtime-mini, two answers of the fake's usage: per answer 900 text in (704 cached), 300 audio in (64 cached),
# 60 text out, 200 audio out.  USD per 1M: text 0.60 / cached 0.06 / out 2.40; audio 10 / cached 0.30 / out 20.
REALTIME = (2 * 196 * 0.60 + 2 * 704 * 0.06 + 2 * 236 * 10 + 2 * 64 * 0.30 + 2 * 60 * 2.40 + 2 * 200 * 20) / 1e6
TRANSCRIPTION = 2 * 9 / 60 * 0.006  # whisper-1: two 9 s channels at 0.006 per minute
EXTRACTION = (176 * 0.15 + 1024 * 0.075 + 80 * 0.60) / 1e6  # gpt-4o-mini: 1200 prompt (1024 cached), 80 out
TWILIO = 2 * (0.014 + 0.004)  # 61 s is billed as 2 minutes of voice and of Media Streams


@pytest.fixture
def priced_call(openai_fake, q_sync, django_capture_on_commit_callbacks, settings) -> Call:
    settings.OPENAI_REALTIME_MODEL, settings.OPENAI_STT_MODEL = "gpt-realtime-mini", "whisper-1"
    settings.OPENAI_TEXT_MODEL, settings.PRICES, settings.PRICES_FILE = "gpt-4o-mini", "", ""
    call = CallFactory(status=CallStatus.IN_PROGRESS)
    call.recording.save(f"{call.twilio_sid}.wav", ContentFile(call_wav(9.0)), save=True)
    metrics = Metrics()
    for _ in range(2):
        metrics.add_usage(Reply().usage)  # what the relay does with each response.done
    call_relay_event_record(call_id=call.pk, event=metrics.usage_report())
    with django_capture_on_commit_callbacks(execute=True):  # the final status queues processing (run inline)
        call_update_status(call_sid=call.twilio_sid, status="completed", sequence_number=3, duration=61)
    assert len(openai_fake.of(TRANSCRIPTIONS)) == 2 and len(openai_fake.of(CHAT)) == 1
    call.refresh_from_db()
    return call


def amount(value: float) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.000001")))


def test_each_part_is_priced_from_what_the_services_reported(priced_call):
    parts = priced_call.cost["parts"]

    assert parts["realtime"]["amount"] == amount(REALTIME) == "0.013366"
    assert parts["realtime"]["tokens"] == {"text_input": 392, "text_cached_input": 1408, "audio_input": 472,
                                           "audio_cached_input": 128, "text_output": 120, "audio_output": 400}
    assert parts["transcription"]["amount"] == amount(TRANSCRIPTION) and parts["transcription"]["seconds"] == 18
    assert parts["extraction"]["amount"] == amount(EXTRACTION)
    assert parts["twilio"] == {"minutes": 2, "amount": amount(TWILIO)}
    total = sum(Decimal(amount(part)) for part in (REALTIME, TRANSCRIPTION, EXTRACTION, TWILIO))
    assert priced_call.cost_total == total == Decimal("0.051317")
    assert priced_call.cost["currency"] == "USD" and priced_call.cost["unpriced"] == []


def test_the_cost_is_shown_on_the_call_page_the_list_the_api_and_the_export(priced_call, admin_client_logged, api):
    page = admin_client_logged.get(f"/admin/calls/call/{priced_call.pk}/change/").content.decode()
    assert "0.0513 USD" in page and "Conversation (OpenAI Realtime)" in page and "0.0134 USD" in page

    listing = admin_client_logged.get("/admin/calls/call/").content.decode()
    assert "0.0513 USD" in listing

    assert api.get(f"/api/calls/{priced_call.twilio_sid}/").json()["cost"] == "0.051317"
    record = api.get("/api/call_histories").json()
    record = record["results"][0] if isinstance(record, dict) else record[0]
    assert record["cost"] == "0.051317" and record["cost_breakdown"]["parts"]["twilio"]["minutes"] == 2

    header, row = csv.reader(io.StringIO(call_history_csv([priced_call]).decode("utf-8-sig")))
    assert header[-1] == "Cost" and row[-1] == "0.051317"
