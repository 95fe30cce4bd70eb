"""G.711 mu-law (Twilio's and the Realtime API's `audio/pcmu`) as 256-entry lookup tables.

`audioop` is deprecated and gone in Python 3.13, so decoding is done with `bytes.translate`: one table maps each
mu-law byte to the low byte of its 16-bit sample, another to the high byte, and extended-slice assignment
interleaves them. Both run in C, so a 20 ms frame costs microseconds.
"""
from __future__ import annotations

import math

_BIAS = 0x84
_CLIP = 32635


def ulaw_to_linear(code: int) -> int:
    """One mu-law byte to a signed 16-bit sample."""
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _BIAS) << exponent
    magnitude -= _BIAS
    return -magnitude if code & 0x80 else magnitude


def linear_to_ulaw(sample: int) -> int:
    """One signed 16-bit sample to a mu-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), _CLIP) + _BIAS
    exponent = max(0, min(7, (magnitude >> 7).bit_length() - 1))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


_SAMPLES = [ulaw_to_linear(code) & 0xFFFF for code in range(256)]
_LOW_BYTES = bytes(sample & 0xFF for sample in _SAMPLES)
_HIGH_BYTES = bytes(sample >> 8 for sample in _SAMPLES)
SILENCE = bytes([0xFF])  # mu-law code for a zero sample


def decode(data: bytes) -> bytes:
    """mu-law bytes to little-endian signed 16-bit PCM (twice as long)."""
    pcm = bytearray(2 * len(data))
    pcm[0::2] = data.translate(_LOW_BYTES)
    pcm[1::2] = data.translate(_HIGH_BYTES)
    return bytes(pcm)


def gain_table(gain_db: float) -> bytes:
    """A `bytes.translate` table that scales mu-law audio by `gain_db` without leaving mu-law."""
    factor = math.pow(10.0, gain_db / 20.0)
    return bytes(linear_to_ulaw(round(ulaw_to_linear(code) * factor)) for code in range(256))


def tone(duration_ms: int, frequency_hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """A sine tone in mu-law: real audio for tests and fakes, not silence."""
    samples = duration_ms * 8
    return bytes(
        linear_to_ulaw(round(amplitude * math.sin(2 * math.pi * frequency_hz * n / 8000))) for n in range(samples)
    )


def encode(pcm: bytes) -> bytes:
    """Little-endian signed 16-bit PCM to mu-law bytes (half as long): the inverse of `decode`."""
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    return bytes(linear_to_ulaw(sample) for sample in samples)


def pcm24k_to_ulaw8k(pcm: bytes) -> bytes:
    """24 kHz 16-bit mono PCM (OpenAI's speech `pcm`) to 8 kHz mu-law (Twilio's): a low-pass filter below 4 kHz
    (a windowed sinc), every third sample kept, then encoded. Not on the audio path: run once per rendered line."""
    import numpy as np  # here, not at import: the live relay never needs it

    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    taps = np.arange(-32, 33)
    kernel = np.sinc(taps / 3) / 3 * np.hamming(len(taps))  # cut-off at a third of 12 kHz: 4 kHz
    filtered = np.convolve(samples, kernel / kernel.sum(), mode="same")[::3]
    return encode(np.clip(np.round(filtered), -32768, 32767).astype("<i2").tobytes())
