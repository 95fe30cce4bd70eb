"""`manage.py place_call --campaign NAME`: the numbers as a campaign, run from the command until settled."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from calls.models import Call
from campaigns.models import Campaign, CampaignState, Outcome

pytestmark = pytest.mark.django_db

ANA, LUIS = "+34910000001", "+34910000002"


def run(*args: str) -> str:
    out = StringIO()
    call_command("place_call", *args, stdout=out)
    return out.getvalue()


def test_it_makes_the_campaign_and_runs_it_until_every_contact_is_settled(fake_twilio):
    fake_twilio.unverified = {ANA, LUIS}  # Twilio refuses both dials: one attempt each, then the run is over
    out = run("--campaign", "Spring", "--any-time", "--attempts", "1", "--concurrency", "2", ANA, LUIS)
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.state == CampaignState.COMPLETED and campaign.max_in_flight == 2
    assert {e.outcome for e in campaign.entries.all()} == {Outcome.EXHAUSTED}
    assert sorted(Call.objects.filter(campaign=campaign).values_list("phone_number", flat=True)) == [ANA, LUIS]
    assert "2/2 settled" in out and "Campaign Spring completed: 2 exhausted" in out


def test_an_existing_campaign_is_resumed_by_name_and_new_numbers_need_a_new_name(fake_twilio):
    fake_twilio.unverified = {ANA}
    run("--campaign", "Spring", "--any-time", "--attempts", "1", ANA)
    with pytest.raises(CommandError, match="exists; run it again without numbers"):
        run("--campaign", "Spring", LUIS)
    with pytest.raises(CommandError, match="No campaign named 'Autumn'"):
        run("--campaign", "Autumn")


def test_bad_limits_are_refused_before_anything_is_written(fake_twilio, settings):
    settings.CALLS_PER_SECOND = 1
    with pytest.raises(CommandError, match="CALLS_PER_SECOND"):
        run("--campaign", "Fast", "--cps", "5", ANA)
    assert not Campaign.objects.exists()
