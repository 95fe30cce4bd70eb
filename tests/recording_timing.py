"""How true a call's recording is to the stream, measured against what the simulated phone knows.

The phone (simulator/twilio_media.py) knows the stream's length (`ended_ms`), the callee speech it sent from
stream time 0, and where it played each chunk of the bot's audio (`played`, cut where a `clear` stopped it). The
recording is stereo: left the callee, right the bot. Each side is compared in 5 ms windows, sound or silence, with
the same side rendered from what the phone knows; the error is the longest run of windows where they disagree: a
run of speech placed d ms off disagrees for about d ms at each of its edges, a chunk missing for its whole length.
"""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from calls.live.relay import mulaw

WINDOW_MS = 5
LOUD_RMS = 300


@dataclass(frozen=True)
class Timing:
    length_error_ms: float  # |recording length - stream length|
    bot_error_ms: float  # the longest the bot's side disagrees with what the phone played
    callee_error_ms: float  # the longest the callee's side disagrees with what the phone sent

    @property
    def alignment_error_ms(self) -> float:
        return max(self.bot_error_ms, self.callee_error_ms)


def wav_channels(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].astype(float), frames[:, 1].astype(float)


def _pcm(audio: bytes) -> np.ndarray:
    return np.frombuffer(mulaw.decode(audio), dtype="<i2").astype(float)


def loud_windows(pcm: np.ndarray) -> np.ndarray:
    """Per 5 ms window of 8 kHz PCM: is there sound?"""
    size = 8 * WINDOW_MS
    windows = pcm[: len(pcm) // size * size].reshape(-1, size)
    return np.sqrt((windows ** 2).mean(axis=1)) > LOUD_RMS


def render_played(played, length_ms: float) -> np.ndarray:
    """The bot's side as the phone heard it: each `PlayedAudio` chunk at its stream time."""
    track = np.zeros(int(length_ms * 8))
    for chunk in played:
        start = int(round(chunk.stream_ms * 8))
        pcm = _pcm(chunk.payload)[: max(0, len(track) - start)]
        track[start:start + len(pcm)] = pcm
    return track


def longest_disagreement_ms(expected: np.ndarray, actual: np.ndarray) -> float:
    """The longest run of 5 ms windows where one has sound and the other not (over the shorter of the two)."""
    count = min(len(expected), len(actual))
    differ = np.concatenate(([False], loud_windows(expected[:count]) != loud_windows(actual[:count]), [False]))
    edges = np.flatnonzero(np.diff(differ.astype(int)))
    runs = edges[1::2] - edges[0::2]
    return float(runs.max() * WINDOW_MS) if len(runs) else 0.0


def recording_timing(wav: bytes, *, ended_ms: float, callee_speech: bytes, played) -> Timing:
    """Compare a call's recording with the stream the phone saw (`callee_speech`: mu-law it sent from 0 ms)."""
    left, right = wav_channels(wav)
    length_ms = len(left) / 8
    until = int(min(length_ms, ended_ms) * 8)
    return Timing(
        length_error_ms=abs(length_ms - ended_ms),
        bot_error_ms=longest_disagreement_ms(render_played(played, until / 8), right[:until]),
        callee_error_ms=longest_disagreement_ms(_pcm(callee_speech)[:until], left[:until]),
    )

