"""The post-call prompts from the bot's files: `prompts/extraction.yaml` (system prompt and per-field
instructions) and the speech-to-text vocabulary of `prompts/transcription.yaml` (shared with the live call).

Both are read and validated by `calls.agent_config`, the one loader of AI/, under AI_CONFIG_DIR; a call of a campaign
with an agent profile reads that profile's (merged over AI/'s). Cached on the files' mtimes: an edited prompt is
picked up by the next call with no worker restart.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from calls.agent_config import ExtractionPrompts, TranscriptionPrompt, load_part, profile_dir

# Whisper keeps only the last 224 tokens of its prompt, silently; we would rather cut at a word and say so.
WHISPER_PROMPT_MAX_TOKENS = 224
_PIECES = re.compile(r"[^\W\d_]+|\d+|[^\w\s]", re.UNICODE)


@lru_cache(maxsize=32)
def _load(relative: str, ai_dir: str, profile: str, mtimes: tuple) -> ExtractionPrompts | TranscriptionPrompt:
    return load_part(relative, ai_dir, profile)


def _read(relative: str, profile: str) -> ExtractionPrompts | TranscriptionPrompt:
    root = Path(settings.AI_CONFIG_DIR)
    override = profile_dir(root, profile) / relative if profile else None
    mtimes = ((root / relative).stat().st_mtime,
              override.stat().st_mtime if override is not None and override.exists() else None)
    return _load(relative, str(root), profile, mtimes)


def prompts_load(profile: str = "") -> ExtractionPrompts:
    return _read("prompts/extraction.yaml", profile)


def transcription_prompt_load(profile: str = "") -> str:
    path = Path(settings.AI_CONFIG_DIR) / "prompts" / "transcription.yaml"
    return _read("prompts/transcription.yaml", profile).prompt.strip() if path.exists() else ""


def tokens_estimate(text: str) -> int:
    """An upper-bound guess of GPT-2/Whisper BPE tokens, without a tokenizer.

    Counted per piece: a word of ASCII letters as one token per 3 letters (BPE averages about 4 per token in
    English, fewer in rare names), plus one per non-ASCII letter (accented letters often become their own byte
    tokens); one per 3 digits; one per punctuation mark. It over-counts real text, so a prompt it passes fits.
    """
    total = 0
    for piece in _PIECES.findall(text):
        if piece[0].isalpha():
            ascii_letters = sum(1 for ch in piece if ch.isascii())
            total += max(1, math.ceil(ascii_letters / 3)) + (len(piece) - ascii_letters)
        elif piece[0].isdigit():
            total += math.ceil(len(piece) / 3)
        else:
            total += 1
    return total


def prompt_fit(text: str, *, limit: int = WHISPER_PROMPT_MAX_TOKENS) -> tuple[str, str]:
    """`text` cut at a word so that it fits `limit` tokens, and the part left out ("" when it all fits)."""
    text = " ".join(text.split())
    if tokens_estimate(text) <= limit:
        return text, ""
    words = text.split(" ")
    low, high = 0, len(words)  # the longest prefix of words that fits
    while low < high:
        middle = (low + high + 1) // 2
        if tokens_estimate(" ".join(words[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]), " ".join(words[low:])
