"""`transfer_call`: the model asks to pass the callee to a person, for one of the configured reasons.

The model only names a reason; the number behind it never leaves Django's side (`calls.transfer`), so nothing the
model says can make the call dial anywhere else. The relay answers the tool, has the bot say the hand-off line and,
once its mark says it played, asks the consumer to move the call (`hang_up(TRANSFERRED)`, like a goodbye).
"""
from __future__ import annotations

from typing import Any

TRANSFER_TOOL = "transfer_call"


def transfer_reason(arguments: dict[str, Any], reasons: tuple[str, ...]) -> tuple[str | None, dict[str, Any]]:
    """(the reason to transfer for, or None, and the tool's answer for the model)."""
    if not reasons:
        return None, {"error": "No transfer to a person is configured; carry on with the call."}
    reason = str(arguments.get("reason") or "").strip()
    if not reason and len(reasons) == 1:
        reason = reasons[0]
    if reason not in reasons:
        return None, {"error": f"reason must be one of: {', '.join(reasons)}."}
    return reason, {"ok": True, "result": "Say the hand-off line; the call then goes to a person."}
