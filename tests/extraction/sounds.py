"""Test recordings built from tones: each utterance is a sine tone whose pitch the fake OpenAI maps to words."""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest

RATE = 8000
# Pitch -> what the fake "hears". Client lines are low, bot lines high, all far enough apart to tell by pitch.
CLIENT_VOICES = {400.0: "Busco un piso en Madrid, cerca del centro.", 600.0: "Mi presupuesto es de mil euros al mes."}
BOT_VOICES = {1000.0: "Hola, le llamo de la inmobiliaria.", 1400.0: "¿En qué zona busca vivienda?"}
VOICES = {**CLIENT_VOICES, **BOT_VOICES}
# (start s, pitch Hz, length s): the bot greets, the client answers, the bot asks, the client answers.
BOT_SCRIPT = [(0.5, 1000.0, 1.5), (5.0, 1400.0, 1.0)]
CLIENT_SCRIPT = [(2.5, 400.0, 2.0), (6.5, 600.0, 1.5)]


def track(script: list[tuple[float, float, float]], seconds: float, rate: int = RATE) -> np.ndarray:
    samples = np.zeros(int(seconds * rate), dtype=np.float64)
    for start, pitch, length in script:
        t = np.arange(int(length * rate)) / rate
        first = int(start * rate)
        samples[first: first + len(t)] = 8000 * np.sin(2 * np.pi * pitch * t)
    return samples.astype(np.int16)


def wav_bytes(*channels: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.stack(channels, axis=1).astype("<i2").tobytes())
    return buffer.getvalue()


def call_wav(seconds: float = 9.0) -> bytes:
    """The standard stereo call: left = client, right = bot."""
    return wav_bytes(track(CLIENT_SCRIPT, seconds), track(BOT_SCRIPT, seconds))


def long_call_scripts(seconds: float) -> tuple[list, list]:
    """A long call for splitting tests: every 3 s the client talks for 2 s, and the bot says a word in the
    client's 1 s pause (so every client utterance is its own turn, and its time can be checked)."""
    client, bot = [], []
    for index, start in enumerate(np.arange(0.5, seconds - 3.0, 3.0)):
        client.append((float(start), list(CLIENT_VOICES)[index % 2], 2.0))
        bot.append((float(start) + 2.2, 1000.0, 0.4))
    return client, bot


needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (scripts/ensure_ffmpeg.sh installs it)"
)


def ffmpeg_encode(wav: bytes, suffix: str, *options: str) -> bytes:
    """`wav` re-encoded by ffmpeg into the format its `suffix` names (`.mp3`, `.m4a`...), with extra options."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.wav", Path(folder) / f"out{suffix}"
        source.write_bytes(wav)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source), *options, str(target)],
                       check=True, timeout=60)
        return target.read_bytes()
