"""What the calls app does, one verb per function; the doors (API, webhooks, admin, consumer, tasks) call these."""
from calls.services.placing import call_hang_up, call_link_twilio_sid, call_say_and_hang_up, place_call
from calls.services.status import (
    call_apply_amd,
    call_mark_failed,
    call_reconcile_stale,
    call_status_callback_replayed,
    call_sync_from_twilio,
    call_update_status,
)
from calls.services.stream_tokens import stream_token_mint, stream_token_redeem
from calls.services.waiting import call_group_name, call_notify_final, call_wait_final, waiter_db_run

__all__ = [
    "call_apply_amd",
    "call_group_name",
    "call_hang_up",
    "call_link_twilio_sid",
    "call_mark_failed",
    "call_notify_final",
    "call_reconcile_stale",
    "call_say_and_hang_up",
    "call_status_callback_replayed",
    "call_sync_from_twilio",
    "call_update_status",
    "call_wait_final",
    "place_call",
    "stream_token_mint",
    "stream_token_redeem",
    "waiter_db_run",
]
