"""The post-call prompts from AI/, and the Whisper prompt-length guard."""
from __future__ import annotations

import pytest

from extraction.prompts import (
    WHISPER_PROMPT_MAX_TOKENS, prompt_fit, prompts_load, tokens_estimate, transcription_prompt_load,
)


def test_the_shipped_prompts_load_and_fit_whisper():
    prompts = prompts_load()

    assert prompts.system and set(prompts.fields) >= {"place", "budget", "other_requirements"}
    assert 0 < tokens_estimate(transcription_prompt_load()) <= WHISPER_PROMPT_MAX_TOKENS


@pytest.mark.parametrize("text, at_least", [
    ("Madrid", 1), ("Lavapiés", 3), ("inmobiliaria", 4), ("28080", 2), ("Hola, ¿qué tal?", 6),
])
def test_it_never_counts_fewer_tokens_than_bpe_would_use(text, at_least):
    # Lower bounds from GPT-2's byte-level BPE behaviour: rare words split in pieces, marks are tokens.
    assert tokens_estimate(text) >= at_least


def test_it_cuts_a_too_long_prompt_at_a_word_and_says_what_was_left_out():
    text = " ".join(f"Apellido{n}" for n in range(200))

    kept, left_out = prompt_fit(text)

    assert tokens_estimate(kept) <= WHISPER_PROMPT_MAX_TOKENS
    assert kept.split() + left_out.split() == text.split()
    assert tokens_estimate(kept + " " + left_out.split()[0]) > WHISPER_PROMPT_MAX_TOKENS


@pytest.mark.django_db
def test_a_too_long_vocabulary_is_trimmed_with_a_note_on_the_call(make_call, openai_fake, settings, tmp_path):
    from extraction.tasks import process_call

    (tmp_path / "AI" / "prompts").mkdir(parents=True)
    (tmp_path / "AI" / "prompts" / "extraction.yaml").write_text(
        (settings.BASE_DIR / "AI" / "prompts" / "extraction.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "AI" / "prompts" / "transcription.yaml").write_text(
        "prompt: " + " ".join(f"Apellido{n}" for n in range(300)), encoding="utf-8")
    settings.AI_CONFIG_DIR = str(tmp_path / "AI")
    call = make_call()

    process_call(call.pk)

    call.refresh_from_db()
    sent = openai_fake.requests[0].fields["prompt"]
    assert sent.startswith("Apellido0 Apellido1") and tokens_estimate(sent) <= WHISPER_PROMPT_MAX_TOKENS
    assert "over Whisper's 224-token limit" in call.processing["steps"]["transcribe"]["notes"][0]
    assert call.processing["status"] == "done"
