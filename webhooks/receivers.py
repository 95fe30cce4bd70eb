"""The signals webhooks out listen to (connected in apps.py), each run inside the transaction that sent it.

Test calls (staff trying a script from the browser) are not the business's calls: integrators never hear of them."""
from calls.models import Call
from campaigns.models import Campaign
from webhooks.models import Event
from webhooks.payloads import call_payload, campaign_payload
from webhooks.services import deliveries_create


def call_completed_notify(sender, call: Call, **kwargs) -> None:
    if call.is_test:
        return
    deliveries_create(event=Event.CALL_COMPLETED, payload=lambda: call_payload(call=call), call=call)


def call_processed_notify(sender, call: Call, **kwargs) -> None:
    if call.is_test:
        return
    deliveries_create(event=Event.CALL_PROCESSED, payload=lambda: call_payload(call=call), call=call)


def campaign_completed_notify(sender, campaign: Campaign, **kwargs) -> None:
    deliveries_create(event=Event.CAMPAIGN_COMPLETED, payload=lambda: campaign_payload(campaign=campaign),
                      campaign=campaign)
