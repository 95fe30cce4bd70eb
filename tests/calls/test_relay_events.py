"""What the relay reports, as the media stream saves it: every kind of relay event lands somewhere, none silently."""
from pathlib import Path
from typing import get_args

import pytest
from django.conf import settings as django_settings

from calls.live.relay import events
from calls.models import Call, CallEvent
from calls.services.streaming import call_relay_event_record
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def recording_path(name: str) -> Path:
    return Path(django_settings.MEDIA_ROOT) / name


def one_of_each() -> list[events.RelayEvent]:
    return [
        events.TranscriptTurn(speaker="callee", text="Busco piso.", start_ms=1200, end_ms=2500, item_id="item_u"),
        events.Dtmf(digit="7", at_ms=1500),
        events.BargeIn(at_ms=300, item_id="item_bot1", audio_end_ms=280),
        events.AiError(at_ms=400, code="invalid_value", message="nope"),
        events.AiUnavailable(at_ms=500, detail="the Realtime connection ended mid-call"),
        events.HangUp(reason="bot_hangup", at_ms=9000, tool_reason="informacion_completa"),
        events.ToolCalled(name="do_not_call", arguments={"quote": "no me llamen"}, result={"ok": True},
                          duration_ms=12, at_ms=8000, filler=True),
        events.AmdWaitOver(at_ms=6000, waited_s=6.0, note="no answering-machine verdict after 6 s; greeted"),
        events.CallMetrics(duration_ms=9500, response_latency_ms=(640, 820), response_latency_mean_ms=730,
                           response_latency_max_ms=820, barge_ins=1, first_words_ms=35),
        events.TokenUsage(responses=2, tokens={"total_tokens": 60, "input_token_details": {"audio_tokens": 30}}),
        events.StreamEnded(reason="bot_hangup", duration_ms=9500,
                           recording=recording_path("recordings/2026/11/CA1.wav")),
    ]


def test_the_examples_cover_every_kind_of_relay_event():
    assert {type(event) for event in one_of_each()} == set(get_args(events.RelayEvent))


def test_each_kind_of_event_is_saved_where_the_call_page_reads_it():
    call = CallFactory()
    for event in one_of_each():
        call_relay_event_record(call_id=call.pk, event=event)

    call = Call.objects.get(pk=call.pk)
    assert call.live_transcript == [{"speaker": "callee", "text": "Busco piso.", "start_ms": 1200, "end_ms": 2500}]
    timeline = {event.kind: event.detail for event in CallEvent.objects.filter(call=call)}
    assert timeline["dtmf"] == {"digit": "7", "at_ms": 1500}
    assert timeline["barge_in"] == {"at_ms": 300, "item_id": "item_bot1", "audio_end_ms": 280}
    assert timeline["ai_error"] == {"at_ms": 400, "code": "invalid_value", "message": "nope"}
    assert timeline["ai_unavailable"] == {"at_ms": 500, "detail": "the Realtime connection ended mid-call"}
    assert timeline["hang_up"] == {"reason": "bot_hangup", "at_ms": 9000, "tool_reason": "informacion_completa"}
    assert timeline["tool_called"] == {"name": "do_not_call", "arguments": {"quote": "no me llamen"},
                                       "result": {"ok": True}, "duration_ms": 12, "at_ms": 8000, "filler": True}
    assert timeline["amd"] == {"at_ms": 6000, "waited_s": 6.0, "note": "no answering-machine verdict after 6 s; greeted"}
    assert call.metrics == {"duration_ms": 9500, "response_latency_ms": [640, 820], "response_latency_mean_ms": 730,
                            "response_latency_max_ms": 820, "barge_ins": 1, "first_words_ms": 35}
    assert call.token_usage == {"model": django_settings.OPENAI_REALTIME_MODEL, "responses": 2, "total_tokens": 60,
                                "input_token_details": {"audio_tokens": 30}}
    assert timeline["stream_ended"] == {"end_reason": "bot_hangup"}


def test_a_hang_up_without_a_tool_reason_saves_none():
    call = CallFactory()
    call_relay_event_record(call_id=call.pk, event=events.HangUp(reason="silence", at_ms=30_000))
    assert CallEvent.objects.get(call=call, kind="hang_up").detail == {"reason": "silence", "at_ms": 30_000}


def test_the_stream_ended_event_links_the_recording_and_keeps_the_first_end_reason():
    call = CallFactory(end_reason="voicemail")
    ended = events.StreamEnded(reason="callee_hangup", duration_ms=1000,
                               recording=recording_path(f"recordings/2026/11/{call.twilio_sid}.wav"))
    call_relay_event_record(call_id=call.pk, event=ended)
    call = Call.objects.get(pk=call.pk)
    assert call.recording.name == f"recordings/2026/11/{call.twilio_sid}.wav"
    assert call.end_reason == "voicemail"
    assert CallEvent.objects.filter(call=call, kind="stream_ended").count() == 1


def test_an_event_the_media_stream_does_not_know_is_an_error_not_silence():
    call = CallFactory()
    with pytest.raises(TypeError, match="not a relay event"):
        call_relay_event_record(call_id=call.pk, event={"type": "transcript", "text": "a dict of old"})
    assert CallEvent.objects.filter(call=call).count() == 0
