"""Settling a campaign contact when its call ends, and later what had to wait: a conversation whose audio stream
had not reported its end yet (its end reason, AI unavailable or stream lost, may still come and make it a retry),
and the extraction of a conversation (success rule `extracted`). Each write is conditional on the contact still
waiting for that very attempt, so a late or repeated report changes nothing.

What the callee asked during the call comes first: do not call me again (the contact's do-not-call: its runs are
done, refused) or call me back then (`callback_at`, booked by the live call's tool: the next attempt, whatever the
call came to)."""
import logging
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from calls.models import Call
from calls.services.recordings import call_stream_running
from campaigns.attempts import CONVERSATION, NextStep, attempt_next, attempt_result
from campaigns.models import IN_FLIGHT_STATES, CampaignContact, ContactState, Outcome, SuccessRule
from contacts.models import Contact
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
    entry = (CampaignContact.objects.select_related("campaign", "contact")
             .filter(campaign_id=call.campaign_id, contact_id=call.contact_id, attempts=call.campaign_attempt,
                     state__in=IN_FLIGHT_STATES).first())
    if entry is None:
        return False
    result = attempt_result(call)
    step = _callee_asked(entry)
    if step is not None:
        pass
    elif result == CONVERSATION and call_stream_running(call=call):
        step = NextStep(state=ContactState.PROCESSING, reason=_("Waiting for the end of the call's audio stream."))
    else:
        step = attempt_next(campaign=entry.campaign, entry=entry, result=result, now=now)
    moved = CampaignContact.objects.filter(pk=entry.pk, state__in=IN_FLIGHT_STATES, attempts=entry.attempts).update(
        last_call=call, last_result=result, updated_at=now, **step.fields())
    logger.info("Campaign %s contact=%s attempt %s: %s -> %s sid=%s", entry.campaign_id, entry.contact_id,
                entry.attempts, result, step.outcome or step.state, call.twilio_sid)
    return bool(moved)


def _callee_asked(entry: CampaignContact) -> NextStep | None:
    if entry.contact.do_not_call:
        return NextStep(state=ContactState.DONE, outcome=Outcome.REFUSED, reason=do_not_call_reason(entry.contact))
    if entry.callback_at is not None:
        return NextStep(state=ContactState.PENDING, next_attempt_at=entry.callback_at,
                        reason=entry.reason or _("The callee asked to be called back then."))
    return None


def do_not_call_reason(contact: Contact) -> str:
    if contact.do_not_call_quote:
        return _('Asked not to be called again: "%(quote)s".') % {"quote": contact.do_not_call_quote}
    return _("Do not call.")


def campaign_contacts_refuse(*, contact: Contact, now: datetime) -> int:
    """`contact` is do-not-call now: its runs waiting for an attempt are done (refused). One on a call is settled
    when its call ends (`campaign_contact_settle`); one being dialled is refused by the dialler's own check. How many."""
    return CampaignContact.objects.filter(contact_id=contact.pk, state=ContactState.PENDING).update(
        state=ContactState.DONE, outcome=Outcome.REFUSED, reason=do_not_call_reason(contact), next_attempt_at=None,
        callback_at=None, updated_at=now)


def campaign_contacts_settle_waiting(*, campaign_id: int, now: datetime, limit: int = 200) -> int:
    """Settle the contacts of `campaign_id` waiting on their last call (processing): once its stream has ended, a
    conversation that the AI or the stream ended badly becomes a retry; a conversation is a success (rule
    `completed`), or is judged once its extraction has finished (rule `extracted`). Returns how many moved."""
    settled = 0
    waiting = (CampaignContact.objects.select_related("campaign", "last_call")
               .filter(campaign_id=campaign_id, state=ContactState.PROCESSING).order_by()[:limit])
    for entry in waiting:
        step = _waiting_step(entry, now)
        if step is not None:
            result = attempt_result(entry.last_call) if entry.last_call else entry.last_result
            settled += CampaignContact.objects.filter(pk=entry.pk, state=ContactState.PROCESSING).update(
                last_result=result, **step.fields())
    return settled


def _waiting_step(entry: CampaignContact, now: datetime) -> NextStep | None:
    call = entry.last_call
    if call is None:
        return NextStep(state=ContactState.DONE, outcome=Outcome.NOT_SUCCEEDED,
                        reason=_("The call was deleted before it was judged."))
    if call_stream_running(call=call):
        return None
    result = attempt_result(call)
    if result != CONVERSATION:
        return attempt_next(campaign=entry.campaign, entry=entry, result=result, now=now)
    if entry.campaign.success_rule == SuccessRule.COMPLETED:
        return NextStep(state=ContactState.DONE, outcome=Outcome.SUCCEEDED, reason=_("Completed conversation."))
    record = ProcessingRecord.from_stored(call.processing)
    if record.is_pending or not record.status:
        return None
    outcome, reason = _extraction_outcome(entry, call, record)
    return NextStep(state=ContactState.DONE, outcome=outcome, reason=reason)


def _extraction_outcome(entry: CampaignContact, call: Call, record: ProcessingRecord) -> tuple[str, str]:
    if record.is_failed:
        return Outcome.NOT_SUCCEEDED, f"Extraction failed: {record.error or 'see the call'}."
    data = call.extracted_data if isinstance(call.extracted_data, dict) else {}
    missing = [name for name in entry.campaign.required_fields if data.get(name) in (None, "", [], {})]
    if missing:
        return Outcome.NOT_SUCCEEDED, _("Talked; not extracted: %(fields)s.") % {"fields": ", ".join(missing)}
    return Outcome.SUCCEEDED, _("Completed conversation with the required fields.")
