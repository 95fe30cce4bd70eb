"""Answering-machine detection as the live call sees it: what the relay does with Twilio's `AnsweredBy`.

Twilio's async AMD answers the web process (`calls.services.status.call_apply_amd`), which passes it to the call's
consumer over the Channels layer; the relay then acts on it here. No Django here.

- `human` / `unknown`: a person (or detection gave up): the bot greets, if it was waiting to.
- `machine_end_beep` / `machine_end_silence` / `machine_end_other` (with `DetectMessageEnd`): the greeting is over;
  with `AMD_ACTION=voicemail` the bot leaves the voicemail line in its own voice and hangs up once it has played.
- `machine_start` (with `Enable`: no beep will be reported), `fax`, or a machine with `AMD_ACTION=hangup`: hang up.
"""
from __future__ import annotations

from enum import Enum

PERSON = frozenset({"human", "unknown"})
MESSAGE_END = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})


class AmdAction(Enum):
    GREET = "greet"  # a person: greet if still waiting
    LEAVE_MESSAGE = "leave_message"  # stop talking, say the voicemail line, hang up once it played
    HANG_UP = "hang_up"  # stop talking, hang up


def amd_action(answered_by: str, *, leave_message: bool) -> AmdAction:
    """What the relay does when detection says `answered_by`; `leave_message` is AMD_ACTION=voicemail."""
    if answered_by in PERSON:
        return AmdAction.GREET
    if answered_by in MESSAGE_END and leave_message:
        return AmdAction.LEAVE_MESSAGE
    return AmdAction.HANG_UP
