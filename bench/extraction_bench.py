"""How much time post-call processing adds per call-minute, with OpenAI answering instantly.

    .venv/bin/python bench/extraction_bench.py [--minutes 1 5 10] [--repeat 3]

Runs `extraction.services.process_call_run` on stereo 8 kHz recordings of the given lengths against the fake
OpenAI REST server (simulator/openai_rest.py) in canned mode: it answers at once, so what is measured is our
code (read the WAV, split channels, detect silence, encode and upload each channel over real HTTP, parse, merge,
extract, store) plus the SDK and the loopback HTTP. The fake runs in this process, so its own request parsing is
counted too: the numbers are an upper bound. Uses a throwaway SQLite file and media folder.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="extraction-bench-"))
os.environ.update({"SQLITE_PATH": str(WORK / "db.sqlite3"), "MEDIA_ROOT": str(WORK / "media"), "DATABASE_URL": "",
                   "DJANGO_SETTINGS_MODULE": "voicebot_site.settings", "LOG_LEVEL": "WARNING",
                   "TRANSCRIPT_SOURCE": "openai"})

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.management import call_command  # noqa: E402

from calls.models import Call  # noqa: E402
from contacts.models import Contact  # noqa: E402
from extraction.services import process_call_run  # noqa: E402
from simulator.openai_rest import OpenAIRestFake  # noqa: E402

RATE = 8000
CANNED = {"task": "transcribe", "language": "spanish", "duration": 4.0, "text": "Hola.",
          "segments": [{"id": 0, "seek": 0, "start": 0.5, "end": 2.0, "text": " Hola.", "tokens": [],
                        "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01}]}


def conversation(minutes: float) -> bytes:
    """Stereo call: the speakers alternate in 3-4 s turns of noisy tones, with pauses, for the whole length."""
    rng = np.random.default_rng(0)
    total = int(minutes * 60 * RATE)
    left, right = np.zeros(total, np.int16), np.zeros(total, np.int16)
    position, speaker = 0, 0
    while position < total:
        length = int(rng.uniform(3, 4) * RATE)
        t = np.arange(min(length, total - position)) / RATE
        voice = 6000 * np.sin(2 * np.pi * rng.uniform(150, 300) * t) + rng.normal(0, 500, len(t))
        (left, right)[speaker][position: position + len(t)] = voice.astype(np.int16)
        position += length + int(0.7 * RATE)
        speaker = 1 - speaker
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.stack([left, right], axis=1).tobytes())
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    contact = Contact.objects.create(phone_number="+34600000001")
    with OpenAIRestFake(canned_transcription=CANNED, chat_answer={"place": "Madrid", "budget": 900}) as fake:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake.base_url, fake.api_key
        print(f"{'minutes':>8} {'MB':>6} {'median s':>9} {'s/call-min':>11}  slowest steps (median run)")
        for minutes in args.minutes:
            _bench(contact, minutes, args.repeat)


def _bench(contact: Contact, minutes: float, repeat: int) -> None:
    data = conversation(minutes)
    call = Call.objects.create(contact=contact, phone_number=contact.phone_number, status="completed")
    call.recording.save(f"bench-{minutes}.wav", ContentFile(data), save=True)
    process_call_run(call=call)  # warm-up: imports, connection pool
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        process_call_run(call=call)
        runs.append((time.perf_counter() - started, dict(call.processing["steps"])))
    runs.sort(key=lambda run: run[0])
    median, steps = runs[len(runs) // 2]
    assert call.processing["status"] == "done", call.processing
    slowest = ", ".join(f"{name} {step['seconds']:.3f}" for name, step in
                        sorted(steps.items(), key=lambda item: -item[1]["seconds"])[:3])
    print(f"{minutes:>8g} {len(data) / 1e6:>6.1f} {median:>9.3f} {median / minutes:>11.3f}  {slowest}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
