"""Settling a campaign contact when its call ends, and when that call's extraction is done (success rule
`extracted`). Each write is conditional on the contact still waiting for that very attempt, so a late or
repeated report changes nothing."""
import logging
from datetime import datetime

from django.utils import timezone

from calls.models import Call
from campaigns.attempts import attempt_next, attempt_result
from campaigns.models import IN_FLIGHT_STATES, CampaignContact, ContactState, Outcome
from extraction.services import ProcessingRecord

logger = logging.getLogger(__name__)


def campaign_contact_settle_from_call_signal(sender, call: Call, **kwargs) -> None:
    """calls.signals.call_final's receiver: runs inside the transaction that made `call` final."""
    if call.campaign_id is not None:
        campaign_contact_settle(call=call, now=timezone.now())


def campaign_contact_settle(*, call: Call, now: datetime) -> bool:
    """Move the contact `call` was an attempt for on: pending for a retry, processing, or done. Whether it moved.

    Writes the CampaignContact (state, last_call, last_result, next_attempt_at, outcome, reason).
    """
    entry = (CampaignContact.objects.select_related("campaign")
             .filter(campaign_id=call.campaign_id, contact_id=call.contact_id, attempts=call.campaign_attempt,
                     state__in=IN_FLIGHT_STATES).first())
    if entry is None:
        return False
    result = attempt_result(call)
    step = attempt_next(campaign=entry.campaign, entry=entry, result=result, now=now)
    moved = CampaignContact.objects.filter(pk=entry.pk, state__in=IN_FLIGHT_STATES, attempts=entry.attempts).update(
        last_call=call, last_result=result, updated_at=now, **step.fields())
    logger.info("Campaign %s contact=%s attempt %s: %s -> %s sid=%s", entry.campaign_id, entry.contact_id,
                entry.attempts, result, step.outcome or step.state, call.twilio_sid)
    return bool(moved)


def campaign_contacts_settle_extracted(*, campaign_id: int, limit: int = 200) -> int:
    """Settle the contacts of `campaign_id` whose conversation's extraction has finished; how many settled."""
    settled = 0
    waiting = (CampaignContact.objects.select_related("campaign", "last_call")
               .filter(campaign_id=campaign_id, state=ContactState.PROCESSING)[:limit])
    for entry in waiting:
        call = entry.last_call
        record = ProcessingRecord.from_stored(call.processing if call else None)
        if call is not None and (record.is_pending or not record.status):
            continue
        outcome, reason = _extraction_outcome(entry, call, record)
        settled += CampaignContact.objects.filter(pk=entry.pk, state=ContactState.PROCESSING).update(
            state=ContactState.DONE, outcome=outcome, reason=reason)
    return settled


def _extraction_outcome(entry: CampaignContact, call: Call | None, record: ProcessingRecord) -> tuple[str, str]:
    if call is None:
        return Outcome.NOT_SUCCEEDED, "The call was deleted before its extraction."
    if record.is_failed:
        return Outcome.NOT_SUCCEEDED, f"Extraction failed: {record.error or 'see the call'}."
    data = call.extracted_data if isinstance(call.extracted_data, dict) else {}
    missing = [name for name in entry.campaign.required_fields if data.get(name) in (None, "", [], {})]
    if missing:
        return Outcome.NOT_SUCCEEDED, f"Talked; not extracted: {', '.join(missing)}."
    return Outcome.SUCCEEDED, "Completed conversation with the required fields."
