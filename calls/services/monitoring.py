"""What staff watching a live call see: the call's state as one message, and where updates about it are published.

Everything about one live call that a watching browser needs goes to the Channels group `call-live-<code>`
(`monitor_groups`): the relay's events from the consumer carrying the call (`calls.live.monitor`), status changes
from Twilio's callbacks (`call_monitor_status_publish`). The watchers' own consumer
(`calls.live.monitor_consumer`) also re-reads `call_monitor_state` every few seconds, so a call carried by another
web process on the in-memory layer (no shared layer) is still followed, a few seconds behind.

The group is not `calls.services.waiting`'s `call-<code>`: a waiting `/make_call` re-reads the database on every
message of its group, and a transcript turn is none of its business.
"""
import logging
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from calls.exceptions import CallError
from calls.models import Call, CallEvent

logger = logging.getLogger(__name__)

MONITOR_MESSAGE_TYPE = "call.live"  # handled by CallMonitorConsumer.call_live
LISTEN_MESSAGE_TYPE = "call.audio"  # handled by CallListenConsumer.call_audio
LISTEN_KEEPALIVE_TYPE = "listen.keepalive"  # a listener to the call's feed: I am still here
WHISPER_TYPE = "live.whisper"  # staff to the call's feed: an instruction for the bot's next turn
WHISPER_MAX_CHARS = 500
HANG_UP_TYPE = "live.hang_up"  # staff to a test call's feed: end it now (a phone call is hung up through Twilio)
MONITOR_EVENT_KINDS = (
    CallEvent.Kind.STATUS, CallEvent.Kind.BARGE_IN, CallEvent.Kind.DTMF, CallEvent.Kind.TOOL_CALLED,
    CallEvent.Kind.HANG_UP, CallEvent.Kind.HANGUP_REQUESTED, CallEvent.Kind.AI_ERROR, CallEvent.Kind.AI_UNAVAILABLE,
    CallEvent.Kind.LISTENED, CallEvent.Kind.WHISPER,
)
MONITOR_EVENTS_MAX = 200  # timeline entries sent in one state message (the newest)


@dataclass(frozen=True)
class MonitorGroups:
    """A live call's Channels groups: its watchers (events), its listeners (audio), its feed (listeners' word)."""

    watch: str
    listen: str
    control: str


def monitor_groups(*, call: Call) -> MonitorGroups:
    return MonitorGroups(watch=f"call-live-{call.code}", listen=f"call-listen-{call.code}",
                         control=f"call-feed-{call.code}")


def call_monitor_state(*, call_id: int) -> dict[str, Any] | None:
    """The whole state a watcher shows, from the database: None if the call does not exist. Reads; writes nothing."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    events = CallEvent.objects.filter(call_id=call_id, kind__in=MONITOR_EVENT_KINDS).order_by("-at", "-pk")
    timeline = [{"kind": event.kind, "label": event.get_kind_display(), "at": event.at.isoformat(),
                 "detail": event.detail} for event in reversed(events[:MONITOR_EVENTS_MAX])]
    return {"type": "state", **call_monitor_status(call=call), "transcript": list(call.live_transcript),
            "timeline": timeline}


def call_monitor_status(*, call: Call) -> dict[str, Any]:
    """The call's status fields, as both the state message and a status update carry them."""
    return {
        "status": call.status, "status_label": call.get_status_display(), "final": call.is_final,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "streaming": bool(call.stream_sid) and not call.recording.name,
        "end_reason": call.end_reason, "end_reason_label": call.get_end_reason_display(),
    }


def call_monitor_status_publish(*, call: Call) -> None:
    """After the transaction commits, tell the call's watchers its new status. Never raises: a broken layer only
    delays the watchers until their next re-read."""
    message = {"type": "status", **call_monitor_status(call=call)}
    group = monitor_groups(call=call).watch
    transaction.on_commit(lambda: _publish(group, message, call_sid=call.twilio_sid))


def _publish(group: str, message: dict[str, Any], *, call_sid: str | None, kind: str = MONITOR_MESSAGE_TYPE) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    body = {"type": kind, "message": message} if kind == MONITOR_MESSAGE_TYPE else {"type": kind, **message}
    try:
        async_to_sync(layer.group_send)(group, body)
    except Exception:
        logger.exception("Could not publish %s for the live call sid=%s", kind, call_sid)


def call_listened_record(*, call_id: int, user: str, seconds: float) -> None:
    """Write on the call's timeline that `user` listened in for `seconds`."""
    CallEvent.objects.create(call_id=call_id, kind=CallEvent.Kind.LISTENED, detail={"user": user, "seconds": seconds})


def call_test_hang_up_publish(*, call: Call) -> None:
    """After commit, tell the feed of test call `call` (calls.live.browser_call) to end it now: it has no Twilio
    call to hang up. The process carrying it must share the channel layer (one process, or Redis)."""
    group = monitor_groups(call=call).control
    transaction.on_commit(lambda: _publish(group, {}, call_sid=str(call.code), kind=HANG_UP_TYPE))


def call_whisper(*, call: Call, text: str, user: str) -> None:
    """Pass staff's instruction `text` to the bot of live `call`, for its next turn (a system message to the model).

    Writes a `whisper` CallEvent (who, what); after commit, sends it to the call's feed through the channel layer
    (the process carrying the call must share it: one process, or Redis). Raises CallError for an empty or too
    long text, or a call that is over.
    """
    text = " ".join(text.split())
    if not text or len(text) > WHISPER_MAX_CHARS:
        raise CallError(f"Write an instruction of 1 to {WHISPER_MAX_CHARS} characters.")
    if call.is_final:
        raise CallError("The call is over: there is nobody to whisper to.")
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.WHISPER, detail={"user": user, "text": text})
    group = monitor_groups(call=call).control
    transaction.on_commit(lambda: _publish(group, {"text": text}, call_sid=call.twilio_sid, kind=WHISPER_TYPE))
