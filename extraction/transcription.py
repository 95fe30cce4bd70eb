"""Speech to text for one channel of a recording: skip silence, split what is too big, stitch the segments."""
from __future__ import annotations

from functools import partial

import numpy as np
from django.conf import settings

from extraction import llm_client
from extraction.audio import chunks_split, is_silent
from extraction.prompts import WHISPER_PROMPT_MAX_TOKENS, prompt_fit, transcription_prompt_load
from extraction.steps import Step
from extraction.turns import Segment, segments_from_transcription


def transcription_prompt(step: Step, profile: str = "") -> str:
    """The vocabulary prompt of AI/prompts/transcription.yaml (the agent profile's, given one), cut to Whisper's
    limit with a note when needed."""
    prompt, left_out = prompt_fit(transcription_prompt_load(profile))
    if left_out:
        step.note(
            f"the transcription vocabulary prompt is over Whisper's {WHISPER_PROMPT_MAX_TOKENS}-token limit "
            f"(estimated): sent without {left_out[:60]!r}...; shorten AI/prompts/transcription.yaml"
        )
    return prompt


def channel_transcribe(
    step: Step, *, samples: np.ndarray, sample_rate: int, name: str, prompt: str
) -> list[Segment]:
    """Segments of one channel on the call's clock; a silent channel is not sent at all."""
    if is_silent(samples, sample_rate):
        step.note(f"{name}: silent, not transcribed")
        return []
    chunks = chunks_split(samples, sample_rate, max_bytes=settings.TRANSCRIPTION_MAX_UPLOAD_BYTES)
    if len(chunks) > 1:
        step.note(f"{name}: over {settings.TRANSCRIPTION_MAX_UPLOAD_BYTES} bytes, sent in {len(chunks)} pieces")
    segments: list[Segment] = []
    for index, chunk in enumerate(chunks):
        body = step.request(partial(llm_client.transcription_create, wav=chunk.wav,
                                    filename=f"{name}-{index}.wav", prompt=prompt))
        step.usage_add(settings.OPENAI_STT_MODEL, llm_client.transcription_usage(body))
        segments += segments_from_transcription(body, offset=chunk.offset_seconds)
    return segments
