"""How true a call's recording is to the stream, measured against what the simulated phone knows.

The phone (tests/fakes/twilio_media.py) knows the stream's length (`ended_ms`), the callee speech it sent from
stream time 0, and where it played each chunk of the bot's audio (`played`, cut where a `clear` stopped it). The
recording is stereo: left the callee, right the bot. Sound is found in 5 ms windows; each run of sound the phone
knows is matched with the nearest run in the recording, and the error is how far its start or end moved.
"""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from calls.live.relay import mulaw

WINDOW_MS = 5
LOUD_RMS = 300
GAP_MS = 40  # runs of sound closer than this are one (a tone crossing zero, a word's short stop)


@dataclass(frozen=True)
class Timing:
    length_error_ms: float  # |recording length - stream length|
    bot_error_ms: float  # worst start/end shift of the bot's speech
    callee_error_ms: float  # worst start/end shift of the callee's speech

    @property
    def alignment_error_ms(self) -> float:
        return max(self.bot_error_ms, self.callee_error_ms)


def wav_channels(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].astype(float), frames[:, 1].astype(float)


def loud_spans(pcm: np.ndarray, *, offset_ms: float = 0.0) -> list[tuple[float, float]]:
    """[start, end) in ms of each run of sound in 8 kHz PCM."""
    size = 8 * WINDOW_MS
    windows = pcm[: len(pcm) // size * size].reshape(-1, size)
    loud = np.sqrt((windows ** 2).mean(axis=1)) > LOUD_RMS
    spans: list[list[float]] = []
    for index in np.flatnonzero(loud):
        start = offset_ms + index * WINDOW_MS
        if spans and start - spans[-1][1] < GAP_MS:
            spans[-1][1] = start + WINDOW_MS
        else:
            spans.append([start, start + WINDOW_MS])
    return [(start, end) for start, end in spans]


def _clip(spans: list[tuple[float, float]], until_ms: float) -> list[tuple[float, float]]:
    return [(start, min(end, until_ms)) for start, end in spans if start < until_ms - GAP_MS]


def _worst_shift(truth: list[tuple[float, float]], recorded: list[tuple[float, float]], until_ms: float) -> float:
    truth = _clip(truth, until_ms)
    if not truth:
        return 0.0
    if not recorded:
        return float("inf")
    worst = 0.0
    for start, end in truth:
        near = min(recorded, key=lambda span: abs(span[0] - start))
        # An end cut by the hang-up is the recording's end, not a shift.
        end_shift = 0.0 if end >= until_ms - GAP_MS else abs(near[1] - end)
        worst = max(worst, abs(near[0] - start), end_shift)
    return worst


def played_spans(played) -> list[tuple[float, float]]:
    """Runs of the bot's sound where the phone played it (`PlayedAudio` chunks in order)."""
    spans: list[tuple[float, float]] = []
    for chunk in played:
        for start, end in loud_spans(np.frombuffer(mulaw.decode(chunk.payload), dtype="<i2").astype(float),
                                     offset_ms=chunk.stream_ms):
            if spans and start - spans[-1][1] < GAP_MS:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return spans


def recording_timing(wav: bytes, *, ended_ms: float, callee_speech: bytes, played) -> Timing:
    """Compare a call's recording with the stream the phone saw (`callee_speech`: mu-law it sent from 0 ms)."""
    left, right = wav_channels(wav)
    length_ms = len(left) / 8
    callee_truth = loud_spans(np.frombuffer(mulaw.decode(callee_speech), dtype="<i2").astype(float))
    until = min(length_ms, ended_ms)
    return Timing(
        length_error_ms=abs(length_ms - ended_ms),
        bot_error_ms=_worst_shift(played_spans(played), loud_spans(right), until),
        callee_error_ms=_worst_shift(callee_truth, loud_spans(left), until),
    )
