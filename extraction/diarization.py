"""Who spoke when in a mono recording, with pyannote.audio (an optional extra, imported lazily).

Our own recordings never come here: they are stereo with one speaker per channel. A mono recording (uploaded from
elsewhere) is diarized, and its anonymous speakers are mapped to roles by one rule: **the first speaker to talk is
the Bot** (our bot opens every call with its greeting) and every other speaker is the Client. A segment of text is
then given the role whose speech overlaps it most.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings

from extraction.exceptions import ProcessingError
from extraction.turns import BOT, CLIENT, Segment, Speaker

log = logging.getLogger(__name__)

INSTALL_HINT = "install the optional extra with scripts/install_diarization.sh, or upload a stereo recording"


@dataclass(frozen=True)
class SpeakerTurn:
    speaker: Speaker
    start: float
    end: float


def diarization_check() -> None:
    """Fail fast, before paying for speech-to-text, when a mono recording cannot be diarized here."""
    if settings.DIARIZATION_BACKEND != "pyannote":
        raise ProcessingError(
            f"this recording is mono, so its speakers must be told apart by diarization, which is disabled "
            f"(DIARIZATION_BACKEND={settings.DIARIZATION_BACKEND!r}); set DIARIZATION_BACKEND=pyannote"
        )
    _pyannote_import()


def _pyannote_import() -> Any:
    # pyannote 4 sends telemetry by default and each call then waits on a closed network.
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    try:
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise ProcessingError(
            f"this recording is mono, so its speakers must be told apart by diarization, but pyannote.audio "
            f"is not installed ({exc}); {INSTALL_HINT}"
        ) from exc
    return Pipeline


@lru_cache(maxsize=2)
def _pipeline_load(source: str, token: str) -> Any:
    # Loading takes seconds (and a download from the hub the first time): once per worker process.
    pipeline = _pyannote_import().from_pretrained(source, token=token or None)
    if pipeline is None:
        raise ProcessingError(f"the diarization pipeline {source!r} could not be loaded (check HUGGINGFACE_TOKEN)")
    return pipeline


def pipeline_get() -> Any:
    return _pipeline_load(settings.DIARIZATION_PIPELINE, settings.HUGGINGFACE_TOKEN)


def speaker_turns(*, samples: np.ndarray, sample_rate: int, pipeline: Any = None) -> list[SpeakerTurn]:
    """Run the pipeline (DIARIZATION_PIPELINE unless one is given) on int16 samples; roles by who talks first."""
    import torch

    pipeline = pipeline if pipeline is not None else pipeline_get()
    # torchcodec cannot load beside CPU torch, so pyannote gets audio in memory, never a path.
    waveform = torch.from_numpy(samples.astype(np.float32) / 32768.0).unsqueeze(0)
    output = pipeline({"waveform": waveform, "sample_rate": sample_rate})
    annotation = getattr(output, "speaker_diarization", output)  # pyannote 4 wraps it; 3.x returns it
    seconds = len(samples) / sample_rate
    # pyannote works on whole windows, so its last segment may run past the end of the audio: clip it.
    tracks = sorted(
        (max(0.0, seg.start), min(seg.end, seconds), label)
        for seg, _, label in annotation.itertracks(yield_label=True)
        if seg.start < seconds
    )
    roles = roles_by_first_speaker([label for _, _, label in tracks])
    return [SpeakerTurn(speaker=roles[label], start=start, end=end) for start, end, label in tracks]


def roles_by_first_speaker(labels_in_time_order: list[str]) -> dict[str, Speaker]:
    first = labels_in_time_order[0] if labels_in_time_order else None
    return {label: BOT if label == first else CLIENT for label in labels_in_time_order}


def segments_label(segments: list[Segment], turns: list[SpeakerTurn]) -> list[Segment]:
    """Each segment gets the role that overlaps it most (the nearest turn when none overlaps)."""
    return [Segment(s.start, s.end, s.text, _role_for(s, turns)) for s in segments]


def _role_for(segment: Segment, turns: list[SpeakerTurn]) -> Speaker:
    if not turns:
        return CLIENT
    overlap: dict[Speaker, float] = {}
    for turn in turns:
        shared = min(segment.end, turn.end) - max(segment.start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=overlap.__getitem__)
    middle = (segment.start + segment.end) / 2
    return min(turns, key=lambda t: min(abs(t.start - middle), abs(t.end - middle))).speaker
