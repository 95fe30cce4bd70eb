"""The live call's tools, as the model calls them (AI/tools/tools.yaml), and what they write.

- `do_not_call` {quote}: the call's contact becomes do-not-call, with the callee's words, where in the recording they
  were said and the call; its campaign runs waiting for an attempt are done (refused), the one on this call when
  the call ends.
- `schedule_callback` {date, time} on the callee's wall clock: for a campaign call, the contact's next attempt is
  booked then (`callback_at`; the next opening of the window if that time is outside it) and the call's end makes
  it pending for it; outside a campaign it is only noted (the relay saves every tool call on the timeline).

The media stream's consumer runs `call_tool_run` on a thread, off the audio path; what it returns, the model reads.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from calls.models import Call
from campaigns.callbacks import CallbackRefused, callback_time
from campaigns.models import IN_FLIGHT_STATES, CampaignContact
from campaigns.settling import campaign_contacts_refuse

logger = logging.getLogger(__name__)

QUOTE_MAX = 300


class ToolRefused(ValueError):
    """The tool's arguments cannot be acted on; the message says why."""


def call_tool_run(*, call_id: int, name: str, arguments: dict[str, Any], at_ms: int) -> dict[str, Any]:
    """Run tool `name` for call `call_id`, called `at_ms` into it; returns the answer for the model."""
    tool = TOOLS.get(name)
    if tool is None:
        return {"error": "unknown tool"}
    try:
        return tool(call_id=call_id, arguments=arguments, at_ms=at_ms, now=timezone.now())
    except (ToolRefused, CallbackRefused) as exc:
        return {"error": str(exc)}


@transaction.atomic
def contact_do_not_call(*, call_id: int, arguments: dict[str, Any], at_ms: int, now: datetime) -> dict[str, Any]:
    """Writes the contact's do_not_call, do_not_call_quote, do_not_call_at_ms, do_not_call_call, and settles its
    waiting campaign runs (`campaign_contacts_refuse`)."""
    call = Call.objects.select_related("contact").get(pk=call_id)
    contact = call.contact
    contact.do_not_call, contact.do_not_call_quote = True, str(arguments.get("quote") or "").strip()[:QUOTE_MAX]
    contact.do_not_call_at_ms, contact.do_not_call_call = max(int(at_ms), 0), call
    contact.save(update_fields=["do_not_call", "do_not_call_quote", "do_not_call_at_ms", "do_not_call_call",
                                "updated_at"])
    refused = campaign_contacts_refuse(contact=contact, now=now)
    logger.info("Contact %s is do-not-call (asked %d ms into the call; %d campaign runs ended) sid=%s",
                contact.pk, contact.do_not_call_at_ms, refused, call.twilio_sid)
    return {"ok": True, "result": "No se le volverá a llamar."}


@transaction.atomic
def callback_schedule(*, call_id: int, arguments: dict[str, Any], at_ms: int, now: datetime) -> dict[str, Any]:
    """Writes the call's campaign run's callback_at and reason (still on the call: the call's end settles it)."""
    wanted = _wall_clock(arguments)
    call = Call.objects.get(pk=call_id)
    entry = (CampaignContact.objects.select_related("campaign").select_for_update(of=("self",))
             .filter(campaign_id=call.campaign_id, contact_id=call.contact_id, attempts=call.campaign_attempt,
                     state__in=IN_FLIGHT_STATES).first()) if call.campaign_id else None
    asked = wanted.strftime("%Y-%m-%d %H:%M")
    if entry is None:
        logger.info("Callback asked for %s (no campaign run to book it in) sid=%s", asked, call.twilio_sid)
        return {"ok": True, "result": f"Anotado: volver a llamar el {asked} (hora del cliente)."}
    at, zone = callback_time(campaign=entry.campaign, entry=entry, wanted=wanted, now=now)
    booked = at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    CampaignContact.objects.filter(pk=entry.pk).update(
        callback_at=at, reason=f"Callback asked for {asked}, booked {booked} ({zone}).", updated_at=now)
    logger.info("Callback booked at %s %s (asked %s) for campaign %s contact=%s sid=%s", booked, zone, asked,
                entry.campaign_id, entry.contact_id, call.twilio_sid)
    answer = {"ok": True, "booked": booked, "time_zone": zone}
    if booked != asked:
        answer["note"] = "Esa hora está fuera del horario de llamadas: se llamará en la primera hora posible."
    return answer


def _wall_clock(arguments: dict[str, Any]) -> datetime:
    try:
        return datetime.strptime(f"{arguments.get('date')} {arguments.get('time')}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise ToolRefused("date must be YYYY-MM-DD and time HH:MM (the callee's local time).") from None


TOOLS = {"do_not_call": contact_do_not_call, "schedule_callback": callback_schedule}
