"""Test calls: staff talk to the bot from the browser ("Try this script", `calls.live.browser_call`), no phone.

A test call is a Call with is_test set, live from the moment it is created (no Twilio, no ringing): its stream
token goes to the page, which then plays Twilio's part over `/ws/try/<call code>`. It needs a contact: the one
chosen (its values fill the prompt's {{contact.*}}), else TEST_CONTACT_PHONE, a built-in contact marked do-not-call
and invalid number, so that no door ever dials it. It ends as `completed` (`call_test_finish`), which sends
call_final: its recording is processed like a phone call's. The dashboard leaves test calls out; no campaign has them.
"""
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls.agent_config import profile_names
from calls.exceptions import CallError
from calls.models import Call, CallEvent, CallStatus
from calls.services.stream_tokens import stream_token_mint
from contacts.models import Contact

logger = logging.getLogger(__name__)

# A fictional number (the 555-01xx range is reserved for fiction in North America) that carries every test call
# placed without a contact. Flagged do-not-call and invalid: whatever lists it, nobody dials it.
TEST_CONTACT_PHONE = "+15555550100"
TEST_CONTACT_NAME = "Browser test calls"


def contact_for_test_calls() -> Contact:
    """The built-in contact of test calls without one (created on first use; its flags put back if cleared)."""
    contact, _ = Contact.objects.get_or_create(
        phone_number=TEST_CONTACT_PHONE, defaults={"name": TEST_CONTACT_NAME})
    if not (contact.do_not_call and contact.number_invalid):
        contact.do_not_call = contact.number_invalid = True
        contact.save(update_fields=["do_not_call", "number_invalid", "updated_at"])
    return contact


def profiles_for_test_calls() -> list[str]:
    """The agent profiles a test call may try: "" (AI/'s own) and every AI/profiles/<name>."""
    return ["", *profile_names(settings.AI_CONFIG_DIR)]


@transaction.atomic
def call_test_start(*, user: str, profile: str = "", contact_id: int | None = None) -> tuple[Call, str]:
    """Create a test call, live now, and return it with its stream token (the only time the token exists in clear).

    CallError if the profile or the contact does not exist. Writes a Call (is_test, in-progress, answered_at now)
    and a `status` CallEvent naming who started it. Enqueues nothing.
    """
    if profile not in profiles_for_test_calls():
        raise CallError(f"No agent profile {profile!r}.")
    if contact_id is None:
        contact = contact_for_test_calls()
    elif (contact := Contact.objects.filter(pk=contact_id).first()) is None:
        raise CallError(f"No contact with id {contact_id}.")
    call = Call.objects.create(
        contact=contact, phone_number=str(contact.phone_number), is_test=True, test_profile=profile,
        status=CallStatus.IN_PROGRESS, answered_at=timezone.now())
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.STATUS,
                             detail={"status": CallStatus.IN_PROGRESS, "source": "browser", "user": user})
    token = stream_token_mint(call=call)
    logger.info("Test call started call=%s by %s profile=%r", call.code, user, profile)
    return call, token
