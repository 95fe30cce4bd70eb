"""Transfer to a person (`transfer_call`): the call leaves the bot for a number from AI/, and what became of it.

The model names a reason (`calls.live.relay.handoff`); the number is the agent profile's `transfers[reason]` in
`AI/prompts/agent.yaml`, never anything the model said. Once the hand-off line has played, the media stream's
consumer calls `call_transfer_start`: Twilio replaces the call's TwiML with a `<Dial>` (the media stream ends there,
so the recording and the live transcript keep everything up to the hand-off). Twilio then POSTs:

- to the whisper URL, when the person picks up: `call_transfer_whisper` answers `<Say>` of `transfer_whisper`, heard
  by that person only, before the callee joins;
- to the action URL, when the dial ends: `call_transfer_outcome` records DialCallStatus and answers `<Hangup/>`
  after a conversation, or `transfer_fallback` said to the callee, then `<Hangup/>`, when nobody answered.

The call's `transfer` holds {reason, to, outcome, dial_call_status, dial_duration}; `transfer` and
`transfer_outcome` CallEvents put both moments on its timeline.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from calls import twilio_client
from calls.agent_config import load_agent_config
from calls.models import Call, CallEvent

logger = logging.getLogger(__name__)

ANSWERED = frozenset({"completed", "answered"})  # DialCallStatus of a conversation that took place
DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})


class TransferRefused(ValueError):
    """The transfer cannot be made (no number for this reason, or Twilio refused it); the message says why."""


def call_transfer_start(*, call_id: int, reason: str) -> str:
    """Move the live call `call_id` to the number of `reason`; returns that number.

    Asks Twilio to replace the call's TwiML with the `<Dial>`. Writes call.transfer {reason, to, outcome: dialling,
    started_at} and a `transfer` CallEvent; on failure, outcome `failed` with the error, and raises TransferRefused.
    """
    call = Call.objects.select_related("campaign").get(pk=call_id)
    agent = load_agent_config(settings.AI_CONFIG_DIR, call.agent_profile).agent
    number = agent.transfers.get(reason)
    record = {"reason": reason, "to": number or "", "started_at": timezone.now().isoformat()}
    try:
        if number is None:
            raise TransferRefused(f"No transfer number for reason {reason!r} in this call's agent profile.")
        twiml = twilio_client.twilio_dial_twiml(
            number=number, caller_id=twilio_client.twilio_settings().phone_number_from,
            timeout=settings.TRANSFER_DIAL_TIMEOUT, action_url=_public_url("twilio-transfer-outcome", call),
            whisper_url=_public_url("twilio-transfer-whisper", call) if agent.transfer_whisper else "")
        twilio_client.twilio_calls_redirect(sid=call.twilio_sid, twiml=twiml)
    except Exception as exc:
        error = getattr(exc, "message", None) or str(exc)
        _record(call=call, transfer={**record, "outcome": "failed", "error": error}, kind=CallEvent.Kind.TRANSFER)
        logger.warning("Transfer failed sid=%s reason=%s: %s", call.twilio_sid, reason, error)
        raise TransferRefused(error) from exc
    _record(call=call, transfer={**record, "outcome": "dialling"}, kind=CallEvent.Kind.TRANSFER)
    logger.info("Transferring sid=%s reason=%s to %s", call.twilio_sid, reason, number)
    return number


def call_transfer_outcome(*, call: Call, params: Mapping[str, str]) -> str:
    """Twilio's `<Dial>` action callback (DialCallStatus, DialCallDuration): record it; returns the TwiML to play.

    Writes call.transfer's outcome (answered | busy | no-answer | failed | canceled), dial_call_status and
    dial_duration, and a `transfer_outcome` CallEvent. A replayed callback is recorded again, changing nothing.
    """
    status = params.get("DialCallStatus", "")
    outcome = "answered" if status in ANSWERED else status
    duration = params.get("DialCallDuration", "")
    update = {"outcome": outcome, "dial_call_status": status,
              "dial_duration": int(duration) if duration.isdigit() else None}
    _record(call=call, transfer={**call.transfer, **update}, kind=CallEvent.Kind.TRANSFER_OUTCOME, detail=update)
    logger.info("Transfer outcome sid=%s %s", call.twilio_sid, status)
    if status in ANSWERED:
        return twilio_client.twilio_say_twiml(text="", language=settings.TWILIO_SAY_LANGUAGE)
    agent = load_agent_config(settings.AI_CONFIG_DIR, call.agent_profile).agent
    return twilio_client.twilio_say_twiml(text=agent.transfer_fallback, language=settings.TWILIO_SAY_LANGUAGE)


def call_transfer_whisper(*, call: Call) -> str:
    """The TwiML the person who picks up hears before the callee joins: `transfer_whisper`, {reason} filled in.
    Writes nothing."""
    agent = load_agent_config(settings.AI_CONFIG_DIR, call.agent_profile).agent
    text = agent.transfer_whisper.replace("{reason}", str(call.transfer.get("reason", "")))
    # No <Hangup/>: once the whisper ends, the person is joined to the callee.
    return twilio_client.twilio_say_twiml(text=text, language=settings.TWILIO_SAY_LANGUAGE, hang_up=False)


@transaction.atomic
def _record(*, call: Call, transfer: dict, kind: CallEvent.Kind, detail: dict | None = None) -> None:
    Call.objects.filter(pk=call.pk).update(transfer=transfer)
    call.transfer = transfer
    CallEvent.objects.create(call=call, kind=kind, detail=detail if detail is not None else transfer)


def _public_url(name: str, call: Call) -> str:
    return twilio_client.twilio_public_url(reverse(name, kwargs={"code": call.code}))
