"""Reading call recordings and cutting them into uploadable WAV pieces.

Our recordings are 16-bit PCM WAV, stereo (left = callee, right = bot) or mono when uploaded from elsewhere
(extraction.transcoding brings every upload to 8 kHz 16-bit PCM first). Everything here is plain numpy on int16
samples: no file format beyond WAV, no ffmpeg.
"""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

WAV_HEADER_BYTES = 44
FRAME_MS = 20
# A pause is searched for over a smoothed energy curve, so that a split lands in a breath, not between two
# syllables that happen to cross zero.
PAUSE_SMOOTHING_FRAMES = 15
# Where to look for a pause: the last quarter before the size limit, so chunks stay close to the limit.
SEARCH_WINDOW_FRACTION = 0.25
SILENCE_RMS = 200.0


class RecordingError(Exception):
    """The recording cannot be read as 16-bit PCM WAV."""


@dataclass(frozen=True)
class Recording:
    """Decoded audio: one int16 array per channel, all of the same length."""

    channels: list[np.ndarray]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.channels[0]) / self.sample_rate if self.channels else 0.0


@dataclass(frozen=True)
class Chunk:
    """A piece of one channel, ready to upload, and where it starts on the call's clock."""

    wav: bytes
    offset_seconds: float


def recording_read(data: bytes) -> Recording:
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise RecordingError(f"expected 16-bit PCM WAV, got {8 * wav.getsampwidth()}-bit samples")
            count, rate = wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"not a readable WAV file ({exc})") from exc
    samples = np.frombuffer(frames, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % count]
    return Recording(channels=[samples[i::count].copy() for i in range(count)], sample_rate=rate)


def wav_encode(samples: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def frame_energy(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS per FRAME_MS frame (the last partial frame is dropped)."""
    size = max(1, sample_rate * FRAME_MS // 1000)
    usable = len(samples) - len(samples) % size
    frames = samples[:usable].astype(np.float32).reshape(-1, size)
    return np.sqrt(np.mean(frames * frames, axis=1))


def is_silent(samples: np.ndarray, sample_rate: int) -> bool:
    energy = frame_energy(samples, sample_rate)
    return not len(energy) or float(energy.max()) < SILENCE_RMS


def chunks_split(samples: np.ndarray, sample_rate: int, *, max_bytes: int) -> list[Chunk]:
    """Cut a channel into WAV pieces of at most max_bytes each, each cut in the quietest spot near the limit."""
    max_samples = (max_bytes - WAV_HEADER_BYTES) // 2
    if max_samples < sample_rate:
        raise ValueError(f"a chunk limit of {max_bytes} bytes is under one second of audio")
    if len(samples) <= max_samples:
        return [Chunk(wav=wav_encode(samples, sample_rate), offset_seconds=0.0)]
    cuts = _cut_points(samples, sample_rate, max_samples)
    bounds = zip([0, *cuts], [*cuts, len(samples)], strict=True)
    return [Chunk(wav=wav_encode(samples[a:b], sample_rate), offset_seconds=a / sample_rate) for a, b in bounds]


def _cut_points(samples: np.ndarray, sample_rate: int, max_samples: int) -> list[int]:
    frame = max(1, sample_rate * FRAME_MS // 1000)
    energy = frame_energy(samples, sample_rate)
    kernel = np.ones(PAUSE_SMOOTHING_FRAMES) / PAUSE_SMOOTHING_FRAMES
    smooth = np.convolve(energy, kernel, mode="same") if len(energy) >= PAUSE_SMOOTHING_FRAMES else energy
    cuts, start = [], 0
    while len(samples) - start > max_samples:
        last_frame = (start + max_samples) // frame  # the cut must keep the chunk within the limit
        first_frame = (start + int(max_samples * (1 - SEARCH_WINDOW_FRACTION))) // frame
        window = smooth[first_frame:last_frame]
        # The latest of the quietest frames keeps the chunk as long as possible.
        quietest = len(window) - 1 - int(np.argmin(window[::-1])) if len(window) else 0
        cut = (first_frame + quietest) * frame + frame // 2
        cut = min(max(cut, start + 1), start + max_samples)
        cuts.append(cut)
        start = cut
    return cuts
