"""The relay with in-memory doubles and a fake clock: frames in, frames out, no Django, no real waiting."""
from __future__ import annotations

import base64
import json
import logging
import math
import time
import wave

import pytest

from calls.live import media
from calls.live.media import MAX_TIMESTAMP_MS
from calls.live.relay import mulaw
from calls.live.relay.events import AiError, AiUnavailable, BargeIn, CallMetrics, Dtmf, HangUp, StreamEnded, TokenUsage
from calls.live.relay.events import TranscriptTurn
from tests.fakes.relay_doubles import (
    Harness, b64, delta, end_call, response_created, response_done, speech_started, speech_stopped,
)
from calls.live.relay.timers import CallTimers, Due, Ending
from simulator.twilio_frames import CALL_SID, STREAM_SID, TwilioFrames
from simulator.polling import async_wait_for

FRAME = mulaw.tone(20)  # 160 bytes: one Twilio frame
CHUNK = mulaw.tone(200, 300)  # 1600 bytes: 200 ms of bot audio
FRAMES = TwilioFrames()  # the SIDs of the stream the Harness starts


@pytest.fixture
async def call(tmp_path):
    async with Harness(tmp_path) as harness:
        await harness.start()
        yield harness


def bot_channel(path) -> list[int]:
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
    samples = memoryview(frames).cast("h")
    return list(samples[1::2])


async def test_it_sends_session_update_then_the_opening_line(call):
    update, opening = call.ai.sent[:2]
    assert update["type"] == "session.update"
    session = update["session"]
    assert session["type"] == "realtime" and session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "coral"}
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "threshold": 0.9, "prefix_padding_ms": 300, "silence_duration_ms": 800,
        "create_response": True, "interrupt_response": True}
    assert session["audio"]["input"]["transcription"] == {"model": "whisper-1", "language": "es"}
    assert session["tools"][0]["name"] == "end_call"
    assert opening["type"] == "response.create"
    assert opening["response"]["instructions"].endswith("Saluda.")


async def test_it_uses_semantic_vad_when_configured(tmp_path):
    from calls.live.relay import TurnDetection

    async with Harness(tmp_path, turn_detection=TurnDetection(type="semantic_vad", eagerness="low")) as call:
        await call.start()
        detection = call.ai.sent[0]["session"]["audio"]["input"]["turn_detection"]
    assert detection == {"type": "semantic_vad", "eagerness": "low", "create_response": True,
                         "interrupt_response": True}


async def test_it_passes_callee_audio_through_untouched(call):
    await call.media(0, FRAME)
    assert call.ai.of_type("input_audio_buffer.append") == [{"type": "input_audio_buffer.append", "audio": b64(FRAME)}]


async def test_it_applies_input_gain_when_configured(tmp_path):
    async with Harness(tmp_path, input_gain_db=-6.0) as call:
        await call.start()
        await call.media(0, FRAME)
        sent = base64.b64decode(call.ai.of_type("input_audio_buffer.append")[0]["audio"])
    louder, quieter = (max(abs(mulaw.ulaw_to_linear(b)) for b in audio) for audio in (FRAME, sent))
    assert quieter == pytest.approx(louder / 2, rel=0.1)


async def test_it_forwards_bot_audio_with_a_mark_after_each_delta(call):
    await call.server(response_created("resp_1"), delta(CHUNK), delta(CHUNK))
    assert [frame["event"] for frame in call.to_twilio] == ["media", "mark", "media", "mark"]
    assert call.to_twilio[0] == {"event": "media", "streamSid": STREAM_SID, "media": {"payload": b64(CHUNK)}}
    assert call.to_twilio[1]["mark"]["name"] != call.to_twilio[3]["mark"]["name"]


async def test_it_sends_clear_on_speech_started(call):
    await call.server(response_created("resp_1"), *[delta(CHUNK) for _ in range(5)])
    call.clock.advance(300)
    await call.server(speech_started())
    assert call.to_twilio[-1] == {"event": "clear", "streamSid": STREAM_SID}
    assert call.ai.of_type("conversation.item.truncate") == [
        {"type": "conversation.item.truncate", "item_id": "item_bot1", "content_index": 0, "audio_end_ms": 300}]
    assert call.events_of(BargeIn) == [BargeIn(at_ms=300, item_id="item_bot1", audio_end_ms=300)]


async def test_it_truncates_at_what_the_returned_marks_and_the_clock_say_was_heard(call):
    await call.server(response_created("resp_1"), *[delta(CHUNK) for _ in range(5)])
    marks = [frame["mark"]["name"] for frame in call.twilio_of("mark")]
    call.clock.advance(450)
    await call.mark(marks[0])
    await call.mark(marks[1])
    await call.server(speech_started())
    assert call.ai.of_type("conversation.item.truncate")[0]["audio_end_ms"] == 450


async def test_it_keeps_unplayed_bot_audio_out_of_the_recording(call):
    await call.server(response_created("resp_1"), *[delta(CHUNK) for _ in range(5)])
    call.clock.advance(300)
    await call.server(speech_started())
    await call.server(delta(CHUNK))  # still in flight from the interrupted item: never sent, never recorded
    call.clock.advance(700)
    await call.relay.close("callee_hangup")
    bot = bot_channel(call.recording)
    assert len(bot) == 8000
    assert any(bot[:2400]) and not any(bot[2400:])
    assert len(call.twilio_of("media")) == 5


async def test_it_does_not_clear_when_the_bot_audio_has_played(call):
    await call.server(response_created("resp_1"), delta(CHUNK))
    call.clock.advance(250)
    await call.mark(call.twilio_of("mark")[0]["mark"]["name"])
    await call.server(speech_started())
    assert call.twilio_of("clear") == [] and call.ai.of_type("conversation.item.truncate") == []


async def test_it_hangs_up_only_after_the_goodbye_mark_comes_back(call):
    await call.server(response_created("resp_1"), end_call("resp_1"))
    assert call.ai.sent[-1] == {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": '{"ok": true}'}}
    await call.server(response_done("resp_1"))
    goodbye = call.ai.sent[-1]
    assert goodbye["type"] == "response.create" and goodbye["response"]["instructions"].endswith("Despídete.")
    await call.server(response_created("resp_2"), delta(CHUNK, item_id="item_bye", response_id="resp_2"),
                      response_done("resp_2"))
    assert call.hang_ups == []
    await call.mark(call.twilio_of("mark")[-1]["mark"]["name"])
    assert call.hang_ups == ["bot_hangup"]
    assert call.events_of(HangUp)[0].tool_reason == "informacion_completa"


async def test_it_hangs_up_at_the_cap_when_the_goodbye_mark_never_comes(call):
    await call.server(response_created("resp_1"), end_call("resp_1"), response_done("resp_1"),
                      response_created("resp_2"), delta(CHUNK, response_id="resp_2"), response_done("resp_2"))
    call.clock.advance(9_900)
    await call.tick()
    assert call.hang_ups == []
    call.clock.advance(200)
    await call.tick()
    assert call.hang_ups == ["bot_hangup"]


async def test_it_wraps_up_at_the_duration_limit_then_hard_stops_after_the_grace(tmp_path):
    async with Harness(tmp_path, duration_limit_s=60, grace_s=10) as call:
        await call.start()
        await call.server(response_created("resp_1"), response_done("resp_1"))
        call.clock.advance(60_000)
        await call.tick()
        wrap_up = call.ai.sent[-1]
        assert wrap_up["type"] == "response.create" and wrap_up["response"]["instructions"].endswith("despídete.")
        call.clock.advance(9_000)
        await call.tick()
        assert call.hang_ups == []
        call.clock.advance(1_000)
        await call.tick()
        assert call.hang_ups == ["duration_limit"]


async def test_it_prompts_a_silent_callee_once_then_ends_politely(tmp_path):
    async with Harness(tmp_path, silence_timeout_s=8) as call:
        await call.start()
        await call.server(response_created("resp_1"), response_done("resp_1"))
        call.clock.advance(8_000)
        await call.tick()
        assert call.ai.sent[-1]["response"]["instructions"].endswith("¿Sigue ahí?")
        await call.server(response_created("resp_2"), response_done("resp_2"))
        call.clock.advance(8_000)
        await call.tick()
        assert call.ai.sent[-1]["response"]["instructions"].endswith("problemas de línea.")
        await call.server(response_created("resp_3"), delta(CHUNK, item_id="item_bye", response_id="resp_3"),
                          response_done("resp_3"))
        await call.mark(call.twilio_of("mark")[-1]["mark"]["name"])
        assert call.hang_ups == ["silence"]


async def test_it_restarts_the_silence_clock_when_the_callee_speaks(tmp_path):
    async with Harness(tmp_path, silence_timeout_s=8) as call:
        await call.start()
        await call.server(response_created("resp_1"), response_done("resp_1"))
        call.clock.advance(6_000)
        await call.server(speech_started(), speech_stopped())
        call.clock.advance(6_000)
        await call.tick()
        assert len(call.ai.of_type("response.create")) == 1


async def test_it_reports_dtmf_on_the_timeline(call):
    call.clock.advance(1_500)
    await call.frame(FRAMES.dtmf("7"))
    assert call.events_of(Dtmf) == [Dtmf(digit="7", at_ms=1500)]


async def test_it_keeps_a_live_transcript_on_the_call_clock(call):
    await call.server(response_created("resp_1"), delta(CHUNK), delta(CHUNK), {
        "type": "response.output_audio_transcript.done", "event_id": "ev", "response_id": "resp_1",
        "item_id": "item_bot1", "output_index": 0, "content_index": 0, "transcript": "Hola, buenas."})
    await call.server(speech_started("item_u", 1200), speech_stopped("item_u", 2500), {
        "type": "conversation.item.input_audio_transcription.completed", "event_id": "ev", "item_id": "item_u",
        "content_index": 0, "transcript": " Busco piso en Madrid. ", "usage": {"type": "duration", "seconds": 1}})
    turns = [(t.speaker, t.text, t.start_ms, t.end_ms) for t in call.relay.transcript.turns]
    assert turns == [("bot", "Hola, buenas.", 0, 400), ("callee", "Busco piso en Madrid.", 1200, 2500)]
    assert [e.speaker for e in call.events_of(TranscriptTurn)] == ["bot", "callee"]


async def test_a_turn_with_no_words_is_left_out_of_the_transcript(call):
    # A response that said nothing (a silent goodbye), and noise the transcriber heard as nothing.
    await call.server(response_created("resp_1"), {
        "type": "response.output_audio_transcript.done", "event_id": "ev", "response_id": "resp_1",
        "item_id": "item_bot1", "output_index": 0, "content_index": 0, "transcript": ""})
    await call.server(speech_started("item_u", 1200), speech_stopped("item_u", 2500), {
        "type": "conversation.item.input_audio_transcription.completed", "event_id": "ev", "item_id": "item_u",
        "content_index": 0, "transcript": "  ", "usage": {"type": "duration", "seconds": 1}})
    await call.server(speech_started("item_v", 3000), speech_stopped("item_v", 3600), {
        "type": "conversation.item.input_audio_transcription.completed", "event_id": "ev", "item_id": "item_v",
        "content_index": 0, "transcript": "Sí.", "usage": {"type": "duration", "seconds": 1}})
    assert [(t.speaker, t.text, t.start_ms) for t in call.relay.transcript.turns] == [("callee", "Sí.", 3000)]
    assert [(e.speaker, e.text) for e in call.events_of(TranscriptTurn)] == [("callee", "Sí.")]


async def test_it_sums_token_usage_and_measures_response_latency(call):
    usage = {"total_tokens": 30, "input_tokens": 20, "output_tokens": 10,
             "input_token_details": {"audio_tokens": 15, "text_tokens": 5}}
    await call.server(response_created("resp_1"), response_done("resp_1", **usage))
    await call.server(speech_started(), speech_stopped())
    call.clock.advance(640)
    await call.server(response_created("resp_2"), delta(CHUNK, response_id="resp_2"), response_done("resp_2", **usage))
    await call.relay.close("callee_hangup")
    assert call.events_of(TokenUsage) == [TokenUsage(responses=2, tokens={
        "input_tokens": 40, "output_tokens": 20, "total_tokens": 60,
        "input_token_details": {"audio_tokens": 30, "text_tokens": 10}})]
    metrics = call.events_of(CallMetrics)[0]
    assert metrics.response_latency_ms == (640,) and metrics.barge_ins == 0


@pytest.mark.parametrize("raw", [
    "not json at all",
    '{"event": "telepathy", "streamSid": "MZ1"}',
    '{"event": "media", "streamSid": "MZ1", "media": {"timestamp": "0", "payload": "@@not base64@@"}}',
    '{"event": "media", "streamSid": "MZ1", "media": {"payload": "AAAA"}}',
    '{"event": "mark", "streamSid": "MZ1"}',
    '{"event": "media", "streamSid": "MZ1", "media": {"timestamp": "0", "payload": "' + "A" * 70_000 + '"}}',
    "[1, 2]",
])
async def test_it_logs_and_ignores_malformed_frames(call, raw, caplog):
    before = len(call.ai.sent)
    with caplog.at_level(logging.WARNING, logger="calls.live.relay"):
        await call.frame(raw)
    assert len(call.ai.sent) == before
    assert CALL_SID in caplog.text and "AAAA" not in caplog.text
    await call.media(20, FRAME)  # the call goes on
    assert call.ai.sent[-1]["type"] == "input_audio_buffer.append"


async def test_it_ignores_media_before_start(tmp_path, caplog):
    async with Harness(tmp_path) as call:
        with caplog.at_level(logging.WARNING, logger="calls.live.relay"):
            await call.frame(FRAMES.media(0, FRAME))
        assert call.ai.sent == [] and "before start" in caplog.text
        await call.start()
        assert call.ai.sent[0]["type"] == "session.update"


async def test_it_goes_on_after_a_non_fatal_openai_error(call):
    await call.server({"type": "error", "event_id": "ev", "error": {
        "type": "invalid_request_error", "code": "invalid_value", "message": "nope"}})
    await call.media(0, FRAME)
    assert call.ai.sent[-1]["type"] == "input_audio_buffer.append" and not call.run_task.done()
    assert call.events_of(AiError)[0].code == "invalid_value"


async def test_it_resends_a_response_refused_while_another_is_active(call):
    await call.server(response_created("resp_1"), end_call("resp_1"), response_done("resp_1"))
    await call.server({"type": "error", "event_id": "ev", "error": {
        "type": "invalid_request_error", "code": "conversation_already_has_active_response", "message": "busy"}},
        response_created("resp_vad"), response_done("resp_vad"))
    assert [e["type"] for e in call.ai.sent[-2:]] == ["response.create", "response.create"]


async def test_it_ends_with_ai_unavailable_when_openai_drops_mid_call(call):
    await call.media(0, FRAME)
    call.ai.drop()
    assert await call.run_task == "ai_unavailable"
    assert call.events_of(AiUnavailable)
    await call.media(20, FRAME)  # Twilio frames after the failure are still recorded, not sent
    assert call.ai.sent[-1]["type"] == "input_audio_buffer.append" and len(call.ai.of_type(
        "input_audio_buffer.append")) == 1


async def test_it_ends_with_ai_unavailable_when_a_send_fails(call):
    call.ai.fail_sends = True
    await call.media(0, FRAME)
    assert await call.run_task == "ai_unavailable"


async def test_stop_closes_openai_and_finalises_the_recording(call):
    for n in range(50):
        await call.media(n * 20, FRAME)
    call.clock.advance(1000)
    await call.frame(FRAMES.stop())
    assert call.ai.closed and await call.run_task == "callee_hangup"
    end = call.events_of(StreamEnded)[0]
    assert end.reason == "callee_hangup" and end.duration_ms == 1000 and end.recording == call.recording
    with wave.open(str(call.recording)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert abs(wav.getnframes() / 8 - 1000) <= 40


async def test_the_end_reason_of_a_hang_up_survives_the_stop_that_follows(call):
    call.clock.advance(120_000)
    await call.relay.hang_up("duration_limit")
    await call.frame(FRAMES.stop())
    assert call.events_of(StreamEnded)[0].reason == "duration_limit"


async def test_it_skips_an_openai_event_it_cannot_read_and_goes_on(call, caplog):
    with caplog.at_level(logging.ERROR, logger="calls.live.relay"):
        await call.server({"type": "response.output_audio.delta", "delta": b64(CHUNK)})  # no item_id
    await call.server(response_created("resp_1"), delta(CHUNK))
    assert not call.run_task.done() and len(call.twilio_of("media")) == 1
    assert "could not handle OpenAI event" in caplog.text


async def test_a_failing_twilio_socket_does_not_end_the_relay(call):
    async def broken(frame):
        raise ConnectionResetError

    call.relay.bot_audio._send_to_twilio = broken
    await call.server(response_created("resp_1"), delta(CHUNK))
    assert not call.run_task.done() and call.relay.end_reason is None


async def test_it_writes_the_recording_during_the_call(call):
    for n in range(100):
        await call.media(n * 20, FRAME)
    call.clock.advance(2000)
    await call.tick()
    await call.relay.recorder._flush_task
    with wave.open(str(call.recording)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() == (2000 - 500) * 8



# ---- timers on their own deadlines (the real clock; the Harness's tick is an hour away) --------------------------


async def test_the_silence_prompt_comes_at_its_deadline_with_no_frame_and_no_tick(tmp_path):
    async with Harness(tmp_path, clock=time.monotonic, silence_timeout_s=0.3) as call:
        await call.start()
        await call.server(response_created("resp_1"), response_done("resp_1"))
        await async_wait_for(lambda: len(call.ai.of_type("response.create")) == 2, what="the silence prompt")
        assert call.ai.sent[-1]["response"]["instructions"].endswith("¿Sigue ahí?")


async def test_the_goodbye_cap_hangs_up_at_its_deadline_with_no_frame_and_no_tick(tmp_path):
    async with Harness(tmp_path, clock=time.monotonic, goodbye_mark_cap_s=0.3) as call:
        await call.start()
        await call.server(response_created("resp_1"), end_call("resp_1"), response_done("resp_1"),
                          response_created("resp_2"), delta(CHUNK, response_id="resp_2"), response_done("resp_2"))
        assert call.hang_ups == []  # the goodbye's mark never comes back
        await async_wait_for(lambda: call.hang_ups, what="the hang-up at the goodbye cap")
        assert call.hang_ups == ["bot_hangup"]


def test_the_next_deadline_is_the_nearest_timer_that_can_fire():
    timers = CallTimers(duration_limit_s=60, grace_s=10, silence_timeout_s=8)
    assert timers.next_deadline_ms() == 8_000  # silence, counted from the start
    timers.activity(5_000)
    assert timers.next_deadline_ms() == 13_000
    timers.ending = Ending(reason="bot_hangup", deadline_ms=20_000)
    assert timers.next_deadline_ms() == 20_000  # no silence prompt during a goodbye
    timers.ending = None
    timers.activity(59_000)
    assert timers.next_deadline_ms() == 60_000  # the limit
    assert timers.due(60_000, conversation_idle=False) is Due.WRAP_UP
    assert timers.next_deadline_ms() == 67_000  # then the quiet callee...
    timers.activity(65_000)
    assert timers.next_deadline_ms() == 70_000  # ...or the hard stop, whichever is first
    assert CallTimers(duration_limit_s=0, grace_s=10, silence_timeout_s=0).next_deadline_ms() == math.inf


# ---- the callee's audio on the fast path -------------------------------------------------------------------------


async def test_plain_media_frames_skip_parse_frame_and_unusual_ones_still_go_through_it(call, monkeypatch):
    judged = []
    parse_frame = media.parse_frame
    monkeypatch.setattr(media, "parse_frame", lambda raw: judged.append(raw) or parse_frame(raw))
    await call.media(0, FRAME)
    unusual = json.dumps({**FRAMES.media(20, FRAME), "media": {**FRAMES.media(20, FRAME)["media"], "timestamp": 20.0}})
    await call.frame(unusual)
    assert judged == [unusual]
    appended = call.ai.of_type("input_audio_buffer.append")
    assert [a["audio"] for a in appended] == [b64(FRAME), b64(FRAME)]
    assert call.relay.recorder.callee_end_ms == 40  # both placed by their timestamps


@pytest.mark.parametrize("media_fields", [
    {"timestamp": "20", "payload": "@@not base64@@"},
    {"timestamp": "20", "payload": "AAA"},  # bad padding
    {"timestamp": "20", "payload": 12345},
    {"timestamp": ["20"], "payload": "AAAA"},
    {"timestamp": str(MAX_TIMESTAMP_MS + 1), "payload": "AAAA"},
    {"timestamp": "9" * 40, "payload": "AAAA"},
    {"timestamp": -20, "payload": "AAAA"},
    {"timestamp": "20", "payload": "AAAA", "track": 7},
    {"timestamp": "20", "payload": "AAAA", "chunk": "one"},
])
async def test_media_frames_malformed_in_any_field_are_refused_as_parse_frame_refuses_them(call, media_fields, caplog):
    raw = json.dumps({**FRAMES.media(20, FRAME), "media": media_fields})
    with pytest.raises(media.MalformedFrame) as refusal:
        media.parse_frame(raw)
    with caplog.at_level(logging.WARNING, logger="calls.live.relay"):
        await call.frame(raw)
    assert f"ignored Twilio frame: {refusal.value}" in caplog.text
    assert call.ai.of_type("input_audio_buffer.append") == [] and call.relay.recorder.callee_end_ms == 0


async def test_media_of_another_stream_sid_is_relayed_as_before(call):
    await call.frame({**FRAMES.media(0, FRAME), "streamSid": "MZ" + "9" * 32})
    assert call.ai.of_type("input_audio_buffer.append") == [{"type": "input_audio_buffer.append", "audio": b64(FRAME)}]


# ---- one mark per ~100 ms of bot audio ---------------------------------------------------------------------------

SMALL = mulaw.tone(20, 300)  # a 20 ms delta, as the Realtime API may send them


async def test_20_ms_deltas_get_a_mark_every_100_ms_and_the_last_one_at_the_end_of_the_audio(call):
    await call.server(response_created("resp_1"), *[delta(SMALL) for _ in range(12)])
    events = [frame["event"] for frame in call.to_twilio]
    assert events == ["media"] * 5 + ["mark"] + ["media"] * 5 + ["mark"] + ["media"] * 2
    await call.server({"type": "response.output_audio.done", "event_id": "ev", "response_id": "resp_1",
                       "item_id": "item_bot1", "output_index": 0, "content_index": 0})
    assert call.to_twilio[-1]["event"] == "mark"
    for frame in call.twilio_of("mark"):
        assert call.relay.bot_audio.busy
        await call.mark(frame["mark"]["name"])
    assert not call.relay.bot_audio.busy


async def test_response_done_sends_the_last_mark_when_no_audio_done_came(call):
    await call.server(response_created("resp_1"), delta(SMALL), response_done("resp_1"))
    assert [frame["event"] for frame in call.to_twilio] == ["media", "mark"]


async def test_a_barge_in_marks_the_unmarked_tail_before_the_clear_and_truncates_as_before(call):
    await call.server(response_created("resp_1"), *[delta(SMALL) for _ in range(7)])
    call.clock.advance(90)
    await call.server(speech_started())
    assert [frame["event"] for frame in call.to_twilio][-3:] == ["media", "mark", "clear"]
    assert call.ai.of_type("conversation.item.truncate")[0]["audio_end_ms"] == 90
    for frame in call.twilio_of("mark"):  # the clear returns them all at once
        await call.mark(frame["mark"]["name"])
    assert not call.relay.bot_audio.busy


async def test_a_chunk_after_twilio_ran_dry_marks_the_run_before_it(call):
    await call.server(response_created("resp_1"), delta(SMALL), delta(SMALL))
    call.clock.advance(500)  # those 40 ms have played long ago
    await call.server(delta(SMALL))
    assert [frame["event"] for frame in call.to_twilio] == ["media", "media", "mark", "media"]
