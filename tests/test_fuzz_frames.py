"""Fuzzing the media stream's inbound side: random, truncated and mangled Twilio frames.

`calls.live.media.parse_frame` raises MalformedFrame and nothing else (and never echoes the audio), its fast path
`read_media` reads nothing that `parse_frame` would not read the same, and
`Relay.handle_twilio_frame` survives any sequence of them, before and after `start`: it never raises, keeps
its recording bounded and still closes cleanly. The relay runs on the in-memory relay doubles (`Harness`).

Hypothesis runs derandomized with a bounded number of examples and no example database.
"""
import asyncio
import base64
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.live.media import MAX_TIMESTAMP_MS, MalformedFrame, MediaFrame, parse_frame, read_media
from calls.live.relay.relay import MAX_MEDIA_AHEAD_MS
from tests.fakes.relay_doubles import Harness
from simulator.twilio_frames import TOKEN, TwilioFrames

FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EVENTS = ["connected", "start", "media", "mark", "dtmf", "stop", "clear", "", "MEDIA", None]
AUDIO = bytes(range(256)) * 2
FRAMES = TwilioFrames()
VALID = [
    FRAMES.connected(),
    FRAMES.start({"token": TOKEN}),
    FRAMES.media(20, AUDIO[:160]),
    FRAMES.mark("m1"),
    FRAMES.dtmf("5"),
    FRAMES.stop(),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(st.integers(-10**6, 60_000), st.integers(MAX_TIMESTAMP_MS - 5, 10**30),
                       st.sampled_from(["0", "-1", "1e9", "12.5", "", "99999999999999999999"]))


@st.composite
def mangled_frames(draw) -> dict:
    """A real frame with one field replaced, removed or added: the shape parse_frame must check."""
    frame = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    target = frame
    for key in draw(st.lists(st.sampled_from(["start", "media", "mark", "dtmf", "stop", "mediaFormat"]),
                             max_size=2)):
        if isinstance(target.get(key), dict):
            target = target[key]
    key = draw(st.sampled_from([*target.keys(), "event", "timestamp", "payload", "extra"]))
    action = draw(st.sampled_from(["replace", "delete", "timestamp"]))
    if action == "delete":
        target.pop(key, None)
    elif action == "timestamp" and "media" in frame and isinstance(frame["media"], dict):
        frame["media"]["timestamp"] = draw(timestamps)
    else:
        target[key] = draw(json_values | st.sampled_from(EVENTS))
    return frame


raw_frames = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    json_values.map(json.dumps),
    mangled_frames().map(json.dumps),
    st.builds(lambda frame, cut: json.dumps(frame)[:cut], st.sampled_from(VALID), st.integers(0, 400)),
    st.builds(lambda frame, cut: json.dumps(frame).encode()[:cut], st.sampled_from(VALID), st.integers(0, 400)),
)


@given(raw=raw_frames)
@FUZZ
def test_parse_frame_raises_only_malformed_frame(raw):
    try:
        frame = parse_frame(raw)
    except MalformedFrame as exc:
        assert base64.b64encode(AUDIO[:160]).decode() not in str(exc)
        return
    assert frame.event in {"connected", "start", "media", "mark", "dtmf", "stop"}
    if frame.event == "media":
        assert 0 <= frame.media.timestamp <= MAX_TIMESTAMP_MS


@given(raw=raw_frames | mangled_frames().filter(lambda frame: frame.get("event") == "media").map(json.dumps))
@FUZZ
def test_read_media_reads_only_what_parse_frame_reads_and_the_same(raw):
    chunk = read_media(raw)
    if chunk is None:
        return  # parse_frame judges it (the test above)
    frame = parse_frame(raw)  # never refuses what the fast path took
    assert isinstance(frame, MediaFrame)
    assert (chunk.timestamp, chunk.audio) == (frame.media.timestamp, frame.media.audio)


@given(before=st.lists(raw_frames, max_size=3), after=st.lists(raw_frames, min_size=1, max_size=12))
@FUZZ
def test_the_relay_survives_any_sequence_of_frames(before, after):
    async def scenario(folder: Path) -> None:
        async with Harness(folder) as call:
            for raw in before:
                await call.frame(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
            await call.start()
            assert call.relay.stream_sid is not None  # ours, or a well-formed start among the garbage before it
            for raw in after:
                await call.relay.handle_twilio_frame(raw)
            # Whatever came in, the recording holds no more than a plausible call so far (the fake clock stands still).
            assert call.relay.recorder.end_ms <= MAX_MEDIA_AHEAD_MS + 1000
            if call.relay.end_reason is None:  # unless a `stop` ended the call, real audio still goes through
                appended = len(call.ai.of_type("input_audio_buffer.append"))
                await call.media(40, AUDIO[:160])
                assert len(call.ai.of_type("input_audio_buffer.append")) == appended + 1

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder)))
