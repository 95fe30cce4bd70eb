"""Turning the recordings staff upload into our WAV layout: 8 kHz, 16-bit PCM, mono or stereo as uploaded.

Staff have mp3, m4a, ogg, webm and WAVs of every kind (44.1 kHz, stereo, 8/16/24/32-bit, float). A WAV already in
our layout is kept byte for byte. pydub reads any integer PCM WAV at 8 kHz itself and changes its sample width;
anything else is decoded and resampled by ffmpeg first, because pydub's resampler does not filter before
decimating and 44.1 kHz speech would alias into the telephone band. ffmpeg runs once per upload, stops at the
maximum duration (plus a second, to tell "too long" from "just right") and is killed at a timeout; its files live
in a temporary folder that is always removed. Stereo stays stereo (left = callee, right = bot, as our own calls);
mono goes to diarization. Every refusal is a RecordingRejected whose message says what to upload instead.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

from pydub import AudioSegment

from extraction.exceptions import RecordingRejected

RATE = 8000
SAMPLE_WIDTH = 2
FORMATS = "an mp3, m4a, ogg, webm or WAV recording"
# ffmpeg demuxers: mp3; mov = m4a/mp4/3gp; ogg = ogg/opus; matroska = webm/mka; and other plain audio files.
AUDIO_CONTAINERS = "mp3,mov,ogg,matroska,wav,w64,aac,flac,aiff,caf,amr"


def recording_to_wav(data: bytes, *, max_seconds: float, timeout: float) -> bytes:
    """`data` (any audio file) as a WAV in our layout, or RecordingRejected saying why it cannot be."""
    if not data:
        raise RecordingRejected(f"The file is empty. Upload {FORMATS}.")
    if _in_our_layout(data):
        _check(AudioSegment(data=data), max_seconds=max_seconds)
        return data
    audio = _pcm_wav_at_our_rate(data)
    if audio is None:
        audio = _ffmpeg_decoded(data, max_seconds=max_seconds, timeout=timeout)
    _check(audio, max_seconds=max_seconds)
    converted = io.BytesIO()
    audio.set_sample_width(SAMPLE_WIDTH).export(converted, format="wav")
    return converted.getvalue()


def _in_our_layout(data: bytes) -> bool:
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            return (wav.getsampwidth(), wav.getframerate(), wav.getcomptype()) == (SAMPLE_WIDTH, RATE, "NONE")
    except (wave.Error, EOFError):
        return False


def _pcm_wav_at_our_rate(data: bytes) -> AudioSegment | None:
    """An integer PCM WAV at 8 kHz, read by pydub alone (no ffmpeg needed); None for anything else."""
    try:
        audio = AudioSegment(data=data)
    except Exception:  # pydub's WAV reader fails in many ways on what is not one; ffmpeg gives the verdict
        return None
    return audio if audio.frame_rate == RATE else None


def _ffmpeg_decoded(data: bytes, *, max_seconds: float, timeout: float) -> AudioSegment:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RecordingRejected(
            "This file has to be converted, and ffmpeg, which converts it, is not installed on the server. Ask "
            "whoever runs voicebot to install it (scripts/ensure_ffmpeg.sh), or upload a 16-bit PCM WAV at 8 kHz."
        )
    with tempfile.TemporaryDirectory(prefix="voicebot-upload-") as folder:
        source, target = Path(folder) / "upload", Path(folder) / "converted.wav"
        source.write_bytes(data)
        command = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            # Audio containers only, read from this one file: a playlist or concat script would make ffmpeg open
            # other files or URLs named inside the upload.
            "-protocol_whitelist", "file", "-format_whitelist", AUDIO_CONTAINERS, "-i", str(source),
            "-map", "0:a:0", "-t", f"{max_seconds + 1:g}", "-ar", str(RATE), "-c:a", "pcm_s16le", "-f", "wav",
            str(target),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RecordingRejected(
                f"Converting this file took longer than {timeout:g} seconds and was stopped. Upload a shorter "
                "recording, or convert it to a WAV file first."
            ) from None
        if done.returncode != 0 or not target.exists():
            raise RecordingRejected(
                f"This file could not be read as audio ({_ffmpeg_reason(done.stderr)}). It may be damaged or in "
                f"a format we do not know. Upload {FORMATS}."
            )
        return AudioSegment.from_wav(str(target))


def _ffmpeg_reason(stderr: bytes) -> str:
    """ffmpeg's last line without the temporary path it names, which means nothing to staff."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    reason = lines[-1] if lines else "ffmpeg failed"
    return reason.split(": ", 1)[1] if reason.startswith("/") and ": " in reason else reason


def _check(audio: AudioSegment, *, max_seconds: float) -> None:
    if audio.channels not in (1, 2):
        raise RecordingRejected(
            f"The recording has {audio.channels} channels. Upload a mono recording, or a stereo one with the "
            "person called on the left and the bot on the right."
        )
    if not audio.frame_count():
        raise RecordingRejected(f"The file contains no audio. Upload {FORMATS}.")
    if audio.duration_seconds > max_seconds:
        raise RecordingRejected(
            f"The recording is longer than the limit of {_minutes(max_seconds)}. Upload a shorter one, or cut "
            "it into parts."
        )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds"
