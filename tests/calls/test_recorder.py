"""The stereo recording: both voices on the call clock, written incrementally, valid mid-call."""
from __future__ import annotations

import warnings
import wave

import pytest

from calls.live.relay import Recorder
from calls.live.relay import mulaw

FRAME = mulaw.tone(20)


def channels(path) -> tuple[list[int], list[int]]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        samples = memoryview(wav.readframes(wav.getnframes())).cast("h")
    return list(samples[0::2]), list(samples[1::2])


def test_the_mulaw_table_matches_the_reference_decoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # the deprecated reference, gone in Python 3.13
    every_code = bytes(range(256))
    assert mulaw.decode(every_code) == audioop.ulaw2lin(every_code, 2)


def test_the_mulaw_encoder_round_trips():
    assert all(mulaw.ulaw_to_linear(mulaw.linear_to_ulaw(mulaw.ulaw_to_linear(c))) == mulaw.ulaw_to_linear(c)
               for c in range(256))


async def test_it_places_callee_audio_by_timestamp_with_gaps_as_silence(tmp_path):
    recorder = Recorder(tmp_path / "r.wav")
    recorder.add_callee(0, FRAME)
    recorder.add_callee(100, FRAME)  # 80 ms lost or late in between
    await recorder.close(200)
    left, right = channels(tmp_path / "r.wav")
    assert len(left) == 1600 and not any(right)
    assert any(left[:160]) and not any(left[160:800]) and any(left[800:960]) and not any(left[960:])


async def test_it_places_bot_audio_where_it_plays_and_cuts_what_was_not_heard(tmp_path):
    recorder = Recorder(tmp_path / "r.wav")
    recorder.add_bot(500, mulaw.tone(1000))
    recorder.cut_bot(800)
    await recorder.close(2000)
    left, right = channels(tmp_path / "r.wav")
    assert len(right) == 16000
    assert not any(right[:4000]) and any(right[4000:6400]) and not any(right[6400:])


async def test_its_length_is_the_stream_duration(tmp_path):
    recorder = Recorder(tmp_path / "r.wav")
    for n in range(150):
        recorder.add_callee(n * 20, FRAME)
    recorder.add_bot(2900, mulaw.tone(2000))  # queued past the end of the call: never heard
    await recorder.close(3000)
    left, right = channels(tmp_path / "r.wav")
    assert abs(len(left) / 8 - 3000) <= 40 and len(right) == len(left)


async def test_the_file_is_valid_mid_call_and_keeps_growing(tmp_path):
    recorder = Recorder(tmp_path / "r.wav", lag_ms=500)
    for n in range(100):
        recorder.add_callee(n * 20, FRAME)
    await recorder.flush(2000)
    left, _ = channels(tmp_path / "r.wav")
    assert len(left) == 1500 * 8
    for n in range(100, 150):
        recorder.add_callee(n * 20, FRAME)
    await recorder.flush(3000)
    assert len(channels(tmp_path / "r.wav")[0]) == 2500 * 8
    await recorder.close(3000)
    assert len(channels(tmp_path / "r.wav")[0]) == 3000 * 8


async def test_callee_audio_older_than_what_was_written_is_dropped_and_counted(tmp_path):
    recorder = Recorder(tmp_path / "r.wav", lag_ms=0)
    await recorder.flush(1000)
    recorder.add_callee(960, mulaw.tone(80))  # 40 ms of it land before the written edge
    await recorder.close(1100)
    left, _ = channels(tmp_path / "r.wav")
    assert recorder.late_ms == 40 and len(left) == 8800 and any(left[8000:8320])


async def test_keeping_up_writes_every_half_second_and_never_past_the_callee_audio_received(tmp_path):
    recorder = Recorder(tmp_path / "r.wav", lag_ms=0)
    for n in range(50):
        recorder.add_callee(n * 20, FRAME)  # one second of callee audio
    recorder.keep_up(400)
    assert recorder._flush_task is None  # not half a second yet
    recorder.keep_up(600)
    await recorder._flush_task
    assert len(channels(tmp_path / "r.wav")[0]) == 600 * 8
    written = recorder._flush_task
    recorder.keep_up(900)
    assert recorder._flush_task is written  # too soon after the last write
    recorder.keep_up(1500)  # due, but the callee audio so far ends at 1000 ms
    await recorder._flush_task
    assert len(channels(tmp_path / "r.wav")[0]) == 1000 * 8
    await recorder.close(1500)
