"""The keypad: a digit the callee presses (Twilio's `dtmf` frame) reaches the model as a short user message.

The message is agent.yaml's `keypad.message` with `{digit}` replaced ("El cliente ha pulsado la tecla 4."), sent
as a GA `conversation.item.create` of a user `message` with `input_text` content; the relay then asks for a response,
so menus such as "pulse 1 para confirmar" work. With `keypad.enabled: false` the digit only goes on the timeline.
"""
from __future__ import annotations

from typing import Any

from .session import message_item

DIGITS = frozenset("0123456789*#ABCD")  # what a phone keypad can send


def keypad_item(message: str, digit: str) -> dict[str, Any] | None:
    """The user item telling the model that `digit` was pressed, or None for anything that is not a key."""
    if digit not in DIGITS:
        return None
    return message_item("user", message.replace("{digit}", digit))
