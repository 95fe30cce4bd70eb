"""Twilio Media Stream frames: parsed into typed models, or rejected in one place with a loggable reason."""
from __future__ import annotations

import base64
import json

import pytest

from calls.live.media import (
    MAX_FRAME_BYTES, MAX_TIMESTAMP_MS, DtmfFrame, MalformedFrame, MarkFrame, MediaFrame, StartFrame, StopFrame,
    clear_frame, mark_frame, media_frame, parse_frame, read_media,
)
from simulator.twilio_frames import CALL_SID, STREAM_SID, TOKEN, TwilioFrames

AUDIO = bytes(range(160))
FRAMES = TwilioFrames()


def test_it_parses_start_with_the_call_sid_and_custom_parameters():
    frame = parse_frame(json.dumps(FRAMES.start({"token": TOKEN})))
    assert isinstance(frame, StartFrame)
    assert (frame.start.callSid, frame.streamSid, frame.start.customParameters) == (
        CALL_SID, STREAM_SID, {"token": "t0k3n"})
    assert frame.start.mediaFormat.encoding == "audio/x-mulaw"


def test_it_decodes_media_and_reads_the_timestamp_as_milliseconds():
    frame = parse_frame(json.dumps(FRAMES.media(1240, AUDIO)))
    assert isinstance(frame, MediaFrame)
    assert (frame.media.timestamp, frame.media.audio, frame.media.duration_ms) == (1240, AUDIO, 20)


@pytest.mark.parametrize("raw, kind", [
    (FRAMES.mark("bot-1"), MarkFrame),
    (FRAMES.dtmf("7"), DtmfFrame),
    (FRAMES.stop(), StopFrame),
])
def test_it_parses_mark_dtmf_and_stop(raw, kind):
    assert isinstance(parse_frame(json.dumps(raw)), kind)


def test_it_accepts_bytes_and_ignores_fields_twilio_adds_later():
    raw = {**FRAMES.media(0, AUDIO), "brandNewField": 1}
    assert isinstance(parse_frame(json.dumps(raw).encode()), MediaFrame)


@pytest.mark.parametrize("raw, reason", [
    ("{not json", "not JSON"),
    ("[]", "not a JSON object"),
    ('{"event": "hologram", "streamSid": "MZ1"}', "'hologram'"),
    ('{"streamSid": "MZ1"}', "None"),
    ('{"event": "media", "streamSid": "MZ1", "media": {"timestamp": "0", "payload": "%%%"}}', "base64"),
    ('{"event": "media", "streamSid": "MZ1", "media": {"payload": "AAAA"}}', "media.timestamp"),
    ('{"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1"}}', "start.callSid"),
    ('{"event": "dtmf", "streamSid": "MZ1", "dtmf": {"digit": "12"}}', "dtmf.digit"),
])
def test_it_rejects_malformed_frames_with_a_reason(raw, reason):
    with pytest.raises(MalformedFrame, match=reason.replace("(", r"\(")) as caught:
        parse_frame(raw)
    assert "AAAA" not in str(caught.value) and "%%%" not in str(caught.value)


def test_it_rejects_oversized_frames_before_parsing():
    raw = json.dumps(FRAMES.media(0, b"\xff" * MAX_FRAME_BYTES))
    with pytest.raises(MalformedFrame, match="exceeds"):
        parse_frame(raw)


def test_it_builds_outbound_frames():
    assert media_frame(STREAM_SID, AUDIO) == {"event": "media", "streamSid": STREAM_SID,
                                               "media": {"payload": base64.b64encode(AUDIO).decode()}}
    assert mark_frame(STREAM_SID, "bot-3") == {"event": "mark", "streamSid": STREAM_SID, "mark": {"name": "bot-3"}}
    assert clear_frame(STREAM_SID) == {"event": "clear", "streamSid": STREAM_SID}


# ---- read_media: the fast path for the callee's audio ------------------------------------------------------------


def media_with(**fields) -> str:
    frame = FRAMES.media(1240, AUDIO)
    return json.dumps({**frame, "media": {**frame["media"], **fields}})


@pytest.mark.parametrize("raw", [
    json.dumps(FRAMES.media(1240, AUDIO)),
    json.dumps(FRAMES.media(1240, AUDIO)).encode(),
    json.dumps(FRAMES.media(0, b"")),
    media_with(timestamp=1240, chunk=63),  # numbers as numbers rather than Twilio's strings
    media_with(timestamp=str(MAX_TIMESTAMP_MS)),
    json.dumps({**FRAMES.media(1240, AUDIO), "streamSid": "MZ-another-stream", "brandNewField": [1]}),
])
def test_read_media_reads_the_same_timestamp_and_audio_as_parse_frame(raw):
    chunk, frame = read_media(raw), parse_frame(raw)
    assert chunk is not None
    assert (chunk.timestamp, chunk.audio) == (frame.media.timestamp, frame.media.audio)


@pytest.mark.parametrize("raw, reason", [
    (media_with(payload="%%%"), "base64"),
    (media_with(payload="AAA"), "base64"),  # bad padding
    (media_with(payload="AA==AA"), "base64"),  # data after the padding
    (media_with(payload=None), "payload"),
    (media_with(payload=["AAAA"]), "payload"),
    (media_with(timestamp=None), "media.timestamp"),
    (media_with(timestamp=[0]), "media.timestamp"),
    (media_with(timestamp="twelve"), "media.timestamp"),
    (media_with(timestamp=MAX_TIMESTAMP_MS + 1), "media.timestamp"),
    (media_with(timestamp="9" * 40), "media.timestamp"),
    (media_with(timestamp=-1), "media.timestamp"),
    (media_with(track=7), "media.track"),
    (media_with(chunk="one"), "media.chunk"),
    (json.dumps({**FRAMES.media(0, AUDIO), "streamSid": 7}), "streamSid"),
    (json.dumps({**FRAMES.media(0, AUDIO), "media": "AAAA"}), "media"),
    (json.dumps(FRAMES.media(0, b"\xff" * MAX_FRAME_BYTES)), "exceeds"),
    (json.dumps(FRAMES.media(0, AUDIO))[:-1], "not JSON"),
    (b'{"event": "media", "streamSid": "MZ\xff"}', "not JSON"),
    ('["media"]', "not a JSON object"),
])
def test_read_media_leaves_every_frame_it_does_not_plainly_accept_to_parse_frame(raw, reason):
    assert read_media(raw) is None
    with pytest.raises(MalformedFrame, match=reason):
        parse_frame(raw)


@pytest.mark.parametrize("timestamp", ["+5", " 12 ", "1_000", 12.0, True, "٣"])
def test_read_media_leaves_numbers_pydantic_reads_loosely_to_parse_frame(timestamp):
    assert read_media(media_with(timestamp=timestamp)) is None
    try:
        parse_frame(media_with(timestamp=timestamp))
    except MalformedFrame:
        pass  # refused there, or read there: either way, not by the fast path


@pytest.mark.parametrize("raw", [json.dumps(FRAMES.mark("bot-1")), json.dumps(FRAMES.stop()),
                                 json.dumps(FRAMES.start({"token": TOKEN})), json.dumps(FRAMES.dtmf("7"))])
def test_read_media_leaves_every_other_event_to_parse_frame(raw):
    assert read_media(raw) is None
