"""`manage.py place_call --campaign NAME`: the numbers of the command line as a campaign, run from the command.

The command makes the campaign (or takes the one of that name), starts or resumes it, and runs scheduler passes for
it until every contact is settled, printing its progress; Ctrl-C pauses it (the calls under way finish), and
running the command again with the same name resumes it. The worker's scheduler may run it at the same time:
every limit is decided in the database (campaigns.scheduler).
"""
import time
from collections.abc import Callable, Sequence

from django.db import transaction

from calls.services.call_lists import Target
from campaigns.models import Campaign, CampaignState
from campaigns.scheduler import campaigns_pass
from campaigns.services import (
    CampaignProgress,
    CampaignStateError,
    campaign_create,
    campaign_pause,
    campaign_progress,
    campaign_resume,
    campaign_start,
)
from contacts.models import Contact

ANY_TIME = {"days": [0, 1, 2, 3, 4, 5, 6], "hours": [["00:00", "24:00"]]}
SETTLED = (CampaignState.COMPLETED, CampaignState.CANCELED)


@transaction.atomic
def campaign_for_command(
    *, name: str, targets: Sequence[Target], concurrency: int, calls_per_second: float, attempts: int,
    any_time: bool,
) -> Campaign:
    """The campaign `name`: made from `targets` (their contacts created if new) when there is none, else the existing
    one (then no numbers may be given). Raises CampaignStateError, ValidationError (a rule that cannot be used)."""
    existing = Campaign.objects.filter(name=name).first()
    if existing is not None:
        if targets:
            raise CampaignStateError(f"A campaign named {name!r} exists; run it again without numbers, "
                                     "or give the new numbers another name.")
        return existing
    if not targets:
        raise CampaignStateError(f"No campaign named {name!r}: give the numbers to call.")
    ids = [Contact.objects.get_or_create(phone_number=t.number, defaults={"name": t.name[:200]})[0].pk
           for t in targets]
    campaign = Campaign(name=name, max_in_flight=concurrency, calls_per_second=calls_per_second,
                        max_attempts=attempts)
    if any_time:
        campaign.window = ANY_TIME
    return campaign_create(campaign=campaign, contact_ids=ids)


def campaign_run_until_settled(
    *, campaign: Campaign, report: Callable[[Campaign, CampaignProgress], None], interval: float = 1.0,
) -> Campaign:
    """Start (a draft) or resume (paused) `campaign`, then pass over it every `interval` seconds until it is
    completed or canceled, calling `report` after each pass. KeyboardInterrupt pauses it and propagates."""
    if campaign.state == CampaignState.DRAFT:
        campaign = campaign_start(campaign=campaign)
    elif campaign.state == CampaignState.PAUSED:
        campaign = campaign_resume(campaign=campaign)
    try:
        while True:
            campaigns_pass(campaign_id=campaign.pk, horizon=interval)
            campaign.refresh_from_db()
            report(campaign, campaign_progress(campaign=campaign))
            if campaign.state in SETTLED:
                return campaign
            time.sleep(interval)
    except KeyboardInterrupt:
        if Campaign.objects.filter(pk=campaign.pk, state=CampaignState.RUNNING).exists():
            campaign_pause(campaign=campaign)
        raise
