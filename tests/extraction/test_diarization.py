"""Mono recordings: speaker roles by who talks first, and the pyannote adapter against pyannote's real API."""
from __future__ import annotations

import os

import numpy as np
import pytest

from extraction.diarization import SpeakerTurn, roles_by_first_speaker, segments_label
from extraction.turns import Segment
from tests.extraction.sounds import RATE


def test_the_first_speaker_is_the_bot_and_everyone_else_the_client():
    assert roles_by_first_speaker(["SPEAKER_01", "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]) == {
        "SPEAKER_01": "Bot", "SPEAKER_00": "Client", "SPEAKER_02": "Client",
    }


def test_each_segment_gets_the_role_that_overlaps_it_most():
    turns = [SpeakerTurn("Bot", 0.0, 2.0), SpeakerTurn("Client", 2.0, 5.0), SpeakerTurn("Bot", 6.0, 7.0)]
    segments = [Segment(0.2, 2.5, "hola"), Segment(1.8, 4.9, "busco piso"), Segment(5.6, 5.8, "vale")]

    labelled = segments_label(segments, turns)

    assert [s.speaker for s in labelled] == ["Bot", "Client", "Bot"]  # the last by the nearest turn


def mu_law_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes to int16, by the standard expansion formula."""
    codes = ~np.frombuffer(data, dtype=np.uint8)
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    return np.where(sign, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


@pytest.mark.slow
@pytest.mark.django_db
def test_the_pyannote_adapter_diarizes_a_mono_call_with_a_pipeline_loaded_from_disk(
    tmp_path, settings, make_call, openai_fake, monkeypatch
):
    monkeypatch.setenv("PYANNOTE_METRICS_ENABLED", "false")  # no telemetry attempts on a closed network
    if os.environ.get("REQUIRE_PYANNOTE") == "1":  # `make test-diarization`: a missing extra fails, never skips
        import pyannote.audio  # noqa: F401
    else:
        pytest.importorskip("pyannote.audio", reason="pyannote.audio is the optional diarization extra "
                                                     "(scripts/install_diarization.sh)")
    from extraction import diarization
    from extraction.tasks import process_call
    from simulator.speech import BOT_SPEECH, CALLEE_SPEECH
    from tests.extraction.sounds import wav_bytes
    from tests.extraction.tiny_pyannote import tiny_pipeline_write

    settings.DIARIZATION_PIPELINE = str(tiny_pipeline_write(tmp_path / "pipeline"))
    bot, callee = (mu_law_decode(speech) for speech in (BOT_SPEECH, CALLEE_SPEECH))
    mono = np.concatenate([np.zeros(RATE // 2, np.int16), bot, np.zeros(RATE, np.int16), callee])
    seconds = len(mono) / RATE

    turns = diarization.speaker_turns(samples=mono, sample_rate=RATE)

    assert turns, "the pipeline found no speech"
    assert turns[0].speaker == "Bot" and {t.speaker for t in turns} <= {"Bot", "Client"}
    assert all(0.0 <= t.start <= t.end <= seconds for t in turns), turns
    assert [t.start for t in turns] == sorted(t.start for t in turns)

    call = make_call(wav=wav_bytes(mono))
    process_call(call.pk)
    call.refresh_from_db()
    assert call.processing["steps"]["diarize"]["status"] == "done", call.processing
    assert "the first speaker is the Bot" in call.processing["steps"]["diarize"]["notes"][0]
    assert len(openai_fake.of("transcriptions")) == 1  # one mixed channel
    assert {turn["speaker"] for turn in call.transcript} <= {"Bot", "Client"} and call.transcript
