"""django-q2 entry points of post-call processing: ids in, one service out."""
from __future__ import annotations

import logging

from calls.models import Call
from extraction import services

log = logging.getLogger(__name__)


def process_call(call_id: int) -> str:
    """Transcribe, diarize, merge and extract one call; returns "done" or "failed" (the details are on the call)."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        log.warning("process_call: call %s no longer exists", call_id)
        return "missing"
    outcome = services.process_call_run(call=call)
    return "done" if outcome.ok else "failed"


def recordings_purge() -> int:
    return services.recordings_purge()
