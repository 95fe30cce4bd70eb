"""Post-call processing of a campaign call reads its agent profile's prompts (merged over AI/'s); others AI/'s."""
from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.extraction.test_process_call import run_through_queue
from simulator.openai_rest import CHAT, TRANSCRIPTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales_profile(ai_copy):
    folder = ai_copy / "profiles" / "sales" / "prompts"
    folder.mkdir(parents=True)
    (folder / "extraction.yaml").write_text(
        "system: Analiza una llamada de ventas entre 'Bot' y 'Client'.\n"
        "fields:\n  budget: Lo que el cliente invertiría, en euros.\n", encoding="utf-8")
    (folder / "transcription.yaml").write_text("prompt: Ventas, hipoteca, Pozuelo.\n", encoding="utf-8")
    return Campaign.objects.create(name="Sales", profile="sales", window={})


def test_a_campaign_call_is_extracted_with_its_profiles_prompts(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks, sales_profile
):
    call = run_through_queue(make_call(campaign=sales_profile), django_capture_on_commit_callbacks)

    assert call.processing["status"] == "done", call.processing
    system, user = openai_fake.of(CHAT)[0].fields["messages"]
    assert system["content"] == "Analiza una llamada de ventas entre 'Bot' y 'Client'."
    assert "- budget: Lo que el cliente invertiría, en euros." in user["content"]
    assert "- place: Zona, barrio o ciudad" in user["content"]  # a field it does not describe: AI/'s text
    assert {upload.fields["prompt"] for upload in openai_fake.of(TRANSCRIPTIONS)} == {"Ventas, hipoteca, Pozuelo."}


def test_a_call_outside_campaigns_uses_ai(make_call, openai_fake, q_sync, django_capture_on_commit_callbacks,
                                          sales_profile):
    run_through_queue(make_call(), django_capture_on_commit_callbacks)

    system, _ = openai_fake.of(CHAT)[0].fields["messages"]
    assert "agencia de" in system["content"] and "ventas" not in system["content"]
    assert all("Lavapiés" in upload.fields["prompt"] for upload in openai_fake.of(TRANSCRIPTIONS))


def test_a_missing_profile_fails_the_extraction_with_the_reason(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    campaign = Campaign.objects.create(name="Gone", profile="gone", window={})
    call = run_through_queue(make_call(campaign=campaign), django_capture_on_commit_callbacks)

    assert "No agent profile 'gone'" in str(call.processing), call.processing
    assert not openai_fake.of(CHAT)


def test_a_profile_may_name_its_own_extraction_schema(
    make_call, openai_fake, q_sync, django_capture_on_commit_callbacks, sales_profile, ai_copy
):
    with (ai_copy / "profiles" / "sales" / "prompts" / "extraction.yaml").open("a", encoding="utf-8") as file:
        file.write("schema: tests.extraction.custom_schema.ViewingRequest\n")
    openai_fake.chat_answer = {"wants_viewing": True, "preferred_day": "jueves"}
    call = run_through_queue(make_call(campaign=sales_profile), django_capture_on_commit_callbacks)

    assert call.extracted_data == {"wants_viewing": True, "preferred_day": "jueves"}, call.processing
    request = openai_fake.of(CHAT)[0].fields
    assert sorted(request["response_format"]["json_schema"]["schema"]["properties"]) == [
        "preferred_day", "wants_viewing"]
    assert "- wants_viewing: Whether the client asked to visit a flat." in request["messages"][1]["content"]
