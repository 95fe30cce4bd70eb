"""Building campaigns and ending their calls in tests: real place_call against FakeTwilio, real signed callbacks."""
from datetime import UTC, datetime

from calls.models import FINAL_STATUSES, Call
from campaigns.models import Campaign, CampaignContact
from campaigns.services import campaign_create, campaign_start
from contacts.models import Contact
from tests.factories import ContactFactory

ALWAYS = {"days": [0, 1, 2, 3, 4, 5, 6], "hours": [["00:00", "24:00"]]}
TEN_TO_TWO = {"days": [0, 1, 2, 3, 4, 5, 6], "hours": [["10:00", "14:00"]]}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def madrid_contacts(count: int, *, start: int = 0) -> list[Contact]:
    return [ContactFactory(phone_number=f"+3491{start + i:07d}") for i in range(count)]


def campaign_of(contacts: list[Contact], *, name: str = "Spring", start: datetime | None = None, **rules) -> Campaign:
    rules = {"window": ALWAYS, "calls_per_second": 50, "max_in_flight": 10, **rules}
    campaign = campaign_create(campaign=Campaign(name=name, time_zone="Europe/Madrid", **rules),
                               contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))
    if start is not None:
        campaign_start(campaign=campaign, now=start)
    campaign.refresh_from_db()
    return campaign


def entry_of(contact: Contact) -> CampaignContact:
    return CampaignContact.objects.get(contact=contact)


def end_call(client, fake_twilio, call: Call, status: str, *, duration: int = 0, answered_by: str | None = None):
    """Twilio's final status callback for `call`, signed and posted to our webhook."""
    if answered_by:
        fake_twilio.status_callback(call.twilio_sid, "in-progress", answered_by=answered_by).post(client)
    response = fake_twilio.status_callback(call.twilio_sid, status, duration=duration).post(client)
    assert response.status_code in (200, 204), response.content


def live_calls():
    return Call.objects.exclude(status__in=FINAL_STATUSES)
