"""The values of the prompt variables (calls.prompt_variables) for one call, read when its audio starts."""
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from calls import prompt_variables
from calls.models import Call, CallEvent
from campaigns.models import CampaignContact
from campaigns.windows import zones_for_number
from contacts.attributes import attribute_text

logger = logging.getLogger(__name__)


def call_prompt_values(*, call_id: int, used: list[str], now: datetime | None = None) -> dict[str, str]:
    """Every variable's value for call `call_id`; those of `used` (the names its prompts use) that are empty are
    noted on the call's timeline, once, so staff see why the bot did not say a name."""
    call = Call.objects.select_related("contact", "campaign").get(pk=call_id)
    contact = call.contact
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    values = {
        "contact.name": contact.name,
        "contact.notes": contact.comments,
        "campaign.name": call.campaign.name if call.campaign_id else "",
        **{prompt_variables.ATTRIBUTE_PREFIX + key: attribute_text(value) for key, value in attributes.items()},
        **prompt_variables.clock_values((now or timezone.now()).astimezone(ZoneInfo(_callee_zone(call)))),
    }
    missing = prompt_variables.missing_values(used, values)
    if missing:
        CallEvent.objects.create(call=call, kind=CallEvent.Kind.PROMPT_VALUES_MISSING,
                                 detail={"variables": ", ".join(missing)})  # read on the timeline as is
        logger.info("Prompt variables left empty sid=%s: %s", call.twilio_sid, ", ".join(missing))
    return values


def _callee_zone(call: Call) -> str:
    """The callee's zone: the campaign entry's own (staff set it), else the number's; of several (a Spanish mobile:
    Madrid and the Canaries) the campaign's or the site's when it is one of them, else the first."""
    entry = None
    if call.campaign_id:
        entry = CampaignContact.objects.filter(campaign_id=call.campaign_id, contact_id=call.contact_id).first()
    default = call.campaign.time_zone if call.campaign_id else settings.TIME_ZONE
    zones = (entry.zone_list if entry else ()) or zones_for_number(call.phone_number, fallback=default)
    return next((zone for zone in (default, settings.TIME_ZONE) if zone in zones), zones[0])
