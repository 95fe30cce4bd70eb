"""The recording follows the stream's clock (Twilio's), not our process's: a relay that runs late, as it does under
load, still places the bot's audio where Twilio played it and ends the file where the stream ended."""
from __future__ import annotations

import wave

import pytest

from calls.live.relay import Recorder, mulaw
from tests.fakes.relay_doubles import Harness, delta, response_created, response_done, speech_started
from simulator.twilio_frames import TwilioFrames

FRAME = mulaw.tone(20)
CHUNK = mulaw.tone(200, 300)  # 200 ms of bot audio
SILENCE = b"\xff" * 160
LATE_MS = 700  # how far behind the stream our process handles every frame


def channels(path) -> tuple[list[int], list[int]]:
    with wave.open(str(path)) as wav:
        samples = memoryview(wav.readframes(wav.getnframes())).cast("h")
    return list(samples[0::2]), list(samples[1::2])


def loud_spans(samples: list[int]) -> list[tuple[int, int]]:
    """Milliseconds [start, end) of each run of sound, to 5 ms (a tone crosses zero now and then)."""
    windows = [any(samples[i:i + 40]) for i in range(0, len(samples), 40)] + [False]
    spans, start = [], None
    for index, loud in enumerate(windows):
        if loud and start is None:
            start = index * 5
        elif not loud and start is not None:
            spans.append((start, index * 5))
            start = None
    return spans


def near(spans: list[tuple[int, int]], expected: list[tuple[int, int]]) -> bool:
    """Within 10 ms: a mark Twilio returns after the frame ending at t was sent somewhere in [t, t + 20)."""
    return len(spans) == len(expected) and all(
        abs(start - want_start) <= 10 and abs(end - want_end) <= 10
        for (start, end), (want_start, want_end) in zip(spans, expected))


class LateStream:
    """Feeds a relay the stream as Twilio sends it (a 20 ms frame at a time, marks in between) while the relay's
    clock runs LATE_MS behind: the process handles each frame that long after Twilio sent it."""

    def __init__(self, call: Harness) -> None:
        self.call, self.stream_ms = call, 0

    async def until(self, stream_ms: int, *, audio: bytes = SILENCE) -> None:
        while self.stream_ms < stream_ms:
            self.call.clock.advance(20)
            await self.call.media(self.stream_ms, audio)
            self.stream_ms += 20

    def marks(self) -> list[str]:
        return [frame["mark"]["name"] for frame in self.call.twilio_of("mark")]


@pytest.fixture
async def late(tmp_path):
    async with Harness(tmp_path) as call:
        await call.start()
        call.clock.advance(LATE_MS)  # the start frame itself was handled late, and every frame since
        yield LateStream(call)


async def test_bot_audio_lands_where_the_returned_marks_say_it_played_and_the_file_ends_with_the_stream(late):
    call = late.call
    await late.until(500)
    await call.server(response_created("resp_1"), delta(CHUNK), delta(CHUNK))  # played back to back from 500
    await late.until(700)
    await call.mark(late.marks()[0])
    await late.until(900)
    await call.mark(late.marks()[1])
    await late.until(1200)
    await call.server(delta(CHUNK, item_id="item_bot2", response_id="resp_2"))  # after a pause: 1200-1400
    await late.until(1400)
    await call.mark(late.marks()[2])
    await late.until(1600)
    call.clock.advance(LATE_MS)  # `stop` is handled late too
    await call.frame(TwilioFrames().stop())
    left, right = channels(call.recording)
    assert len(left) == 1600 * 8, "the file lasts as long as the stream, not as long as our clock ran"
    spans = loud_spans(right)
    assert near(spans, [(500, 900), (1200, 1400)]), spans


async def test_after_a_clear_only_what_played_until_twilio_cleared_is_kept(late):
    call = late.call
    await late.until(400)
    await call.server(response_created("resp_1"), *[delta(CHUNK) for _ in range(4)])  # 400-1200 if played whole
    await late.until(600)
    await call.mark(late.marks()[0])  # the first chunk played 400-600
    await late.until(700)
    await call.server(speech_started())  # barge-in: Twilio clears at 700 and returns the pending marks there
    for name in late.marks()[1:]:
        await call.mark(name)
    await late.until(1000)
    await call.frame(TwilioFrames().stop())
    _, right = channels(call.recording)
    assert near(loud_spans(right), [(400, 700)]), loud_spans(right)


async def test_a_call_that_ends_before_a_mark_returns_keeps_that_audio_from_where_it_was_sent(late):
    call = late.call
    await late.until(300)
    await call.server(response_created("resp_1"), delta(CHUNK))
    await late.until(400)
    await call.frame(TwilioFrames().stop())  # the callee hung up 100 ms into the chunk
    _, right = channels(call.recording)
    assert len(right) == 400 * 8 and loud_spans(right) == [(300, 400)]


async def test_the_writer_waits_for_bot_audio_whose_mark_has_not_come_back(tmp_path):
    recorder = Recorder(tmp_path / "r.wav", lag_ms=0)
    for n in range(100):
        recorder.add_callee(n * 20, FRAME)  # two seconds of callee audio
    recorder.bot_hold_ms = 800  # a chunk sent after 800 ms still waits for its mark
    recorder.keep_up(2000)
    await recorder._flush_task
    with wave.open(str(tmp_path / "r.wav")) as wav:
        assert wav.getnframes() == 800 * 8
    recorder.add_bot(800, CHUNK)  # its mark came back: nothing of it was lost to the writer
    recorder.bot_hold_ms = None
    await recorder.close(2000)
    _, right = channels(tmp_path / "r.wav")
    assert loud_spans(right) == [(800, 1000)]


async def test_a_chunk_cleared_soon_after_it_started_is_placed_from_when_it_reached_twilio(tmp_path):
    async with Harness(tmp_path) as call:
        await call.start()
        stream = LateStream(call)
        await stream.until(1000)  # on time so far: our clock and Twilio's agree
        call.clock.advance(300)  # then the process falls 300 ms behind on inbound frames
        await stream.until(1200)
        # Sent now, at Twilio's 1500 (what we send does not wait in our inbound queue): played from 1500.
        await call.server(response_created("resp_1"), delta(CHUNK))
        await stream.until(1240)
        await call.server(speech_started())  # Twilio gets the clear at 1540 and returns the mark then
        await stream.until(1540)
        await call.mark(stream.marks()[0])
        await stream.until(1700)
        await call.frame(TwilioFrames().stop())
    _, right = channels(call.recording)
    assert near(loud_spans(right), [(1500, 1540)]), loud_spans(right)


async def test_chunks_cleared_as_soon_as_they_reached_twilio_are_not_heard(late):
    call = late.call
    await late.until(500)
    await call.server(response_created("resp_1"), delta(CHUNK), delta(CHUNK))  # reach Twilio at 500
    call.clock.advance(5)
    await call.server(speech_started())  # 5 ms later: Twilio returns both marks at once, at 505
    for name in late.marks():
        await call.mark(name)
    await late.until(800)
    await call.frame(TwilioFrames().stop())
    _, right = channels(call.recording)
    assert sum(end - start for start, end in loud_spans(right)) <= 10, loud_spans(right)


async def test_20_ms_deltas_with_a_mark_per_100_ms_land_where_they_played(late):
    call = late.call
    small = mulaw.tone(20, 300)
    await late.until(500)
    await call.server(response_created("resp_1"), *[delta(small) for _ in range(10)])  # 500-700, two marks
    assert len(late.marks()) == 2
    await late.until(600)
    await call.mark(late.marks()[0])
    await late.until(700)
    await call.mark(late.marks()[1])
    await late.until(900)
    await call.frame(TwilioFrames().stop())
    _, right = channels(call.recording)
    assert near(loud_spans(right), [(500, 700)]), loud_spans(right)


async def test_audio_that_played_whole_is_kept_whole_though_its_mark_reads_a_little_early(late):
    call = late.call
    tail = mulaw.tone(82, 300)  # the end of an item: not a whole number of frames
    await late.until(500)
    await call.server(response_created("resp_1"), delta(CHUNK), delta(tail), response_done("resp_1"))  # 500-782
    await late.until(700)
    await call.mark(late.marks()[0])
    await late.until(780)  # Twilio's mark for 782 comes after the frame ending at 780: read as 790, a hair early
    await call.mark(late.marks()[-1])
    await late.until(900)
    await call.frame(TwilioFrames().stop())
    _, right = channels(call.recording)
    heard = list(memoryview(mulaw.decode(CHUNK + tail)).cast("h"))
    start = next(i for i, sample in enumerate(right) if sample) - next(i for i, sample in enumerate(heard) if sample)
    assert right[start:start + len(heard)] == heard, "every sample of both chunks, the tail not cut at its mark"
