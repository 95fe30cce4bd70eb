"""A channel too big for one upload is cut in its pauses, and the pieces' segments land at the right times."""
from __future__ import annotations

import numpy as np
import pytest

from extraction.audio import chunks_split, recording_read
from extraction.tasks import process_call
from tests.extraction.sounds import CLIENT_VOICES, RATE, long_call_scripts, track, wav_bytes
from simulator.openai_rest import TRANSCRIPTIONS

LIMIT = 200_000  # bytes: about 12.5 s of 8 kHz 16-bit audio


def test_it_cuts_only_in_silence_and_keeps_every_sample():
    client, _ = long_call_scripts(60.0)
    samples = track(client, 60.0)

    chunks = chunks_split(samples, RATE, max_bytes=LIMIT)

    assert len(chunks) >= 5
    pieces = [recording_read(chunk.wav).channels[0] for chunk in chunks]
    assert all(len(chunk.wav) <= LIMIT for chunk in chunks)
    assert np.array_equal(np.concatenate(pieces), samples)
    for index in range(1, len(chunks)):
        before = sum(len(piece) for piece in pieces[:index])
        assert chunks[index].offset_seconds == pytest.approx(before / RATE)
        assert np.abs(samples[before - 80: before + 80]).max() == 0  # each cut falls in a pause, not in a word


def test_it_keeps_chunks_near_the_limit():
    client, _ = long_call_scripts(60.0)

    chunks = chunks_split(track(client, 60.0), RATE, max_bytes=LIMIT)

    assert all(len(chunk.wav) >= 0.7 * LIMIT for chunk in chunks[:-1])


def test_it_still_cuts_audio_that_has_no_pause():
    noise = (np.random.default_rng(1).normal(0, 3000, RATE * 40)).astype(np.int16)

    chunks = chunks_split(noise, RATE, max_bytes=LIMIT)

    assert all(len(chunk.wav) <= LIMIT for chunk in chunks) and len(chunks) == 4


@pytest.mark.django_db
def test_it_transcribes_a_long_recording_in_pieces_with_correct_times(make_call, openai_fake, settings):
    settings.TRANSCRIPTION_MAX_UPLOAD_BYTES = LIMIT
    openai_fake.max_file_bytes = LIMIT  # the fake refuses anything bigger, as OpenAI does at 25 MB
    client, bot = long_call_scripts(60.0)
    call = make_call(wav=wav_bytes(track(client, 60.0), track(bot, 60.0)))

    process_call(call.pk)
    call.refresh_from_db()

    assert call.processing["status"] == "done", call.processing
    uploads = openai_fake.of(TRANSCRIPTIONS)
    assert len(uploads) >= 6 and all(u.status == 200 and u.file_bytes <= LIMIT for u in uploads)
    client_turns = [t for t in call.transcript if t["speaker"] == "Client"]
    assert [t["text"] for t in client_turns] == [CLIENT_VOICES[pitch] for _, pitch, _ in client]
    for turn, (start, _, length) in zip(client_turns, client, strict=True):
        assert turn["start_ms"] == pytest.approx(start * 1000, abs=30)
        assert turn["end_ms"] == pytest.approx((start + length) * 1000, abs=30)
    assert "pieces" in " ".join(call.processing["steps"]["transcribe"]["notes"])


def test_it_refuses_a_limit_under_one_second_of_audio():
    with pytest.raises(ValueError, match="under one second"):
        chunks_split(np.zeros(RATE * 5, dtype=np.int16), RATE, max_bytes=1000)
