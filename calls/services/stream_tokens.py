"""Single-use, expiring tokens that let exactly one media stream attach to a call.

Only the token's sha256 is stored, so a database leak cannot open a stream; redeeming is one conditional UPDATE,
so two racing websockets cannot both win.
"""
import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls.exceptions import StreamTokenError
from calls.models import FINAL_STATUSES, Call

logger = logging.getLogger(__name__)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def stream_token_mint(*, call: Call) -> str:
    """Create a fresh token for `call` and return it (the only time it exists in clear).

    Writes call.stream_token_hash / stream_token_expires_at and clears stream_token_used_at; any earlier token
    of the call stops working. Enqueues nothing.
    """
    token = secrets.token_urlsafe(32)
    call.stream_token_hash = _hash(token)
    call.stream_token_expires_at = timezone.now() + timedelta(seconds=settings.STREAM_TOKEN_TTL)
    call.stream_token_used_at = None
    call.save(update_fields=["stream_token_hash", "stream_token_expires_at", "stream_token_used_at"])
    return token


@transaction.atomic
def stream_token_redeem(*, token: str | None, call_code: str | None = None) -> Call:
    """Spend `token` and return its call; raise StreamTokenError if it is missing, unknown, expired or used, or
    (given `call_code`, the call the stream's URL names) if it belongs to another call, which leaves it unspent.

    Writes call.stream_token_used_at (once, atomically). Enqueues nothing.
    """
    if not token:
        raise StreamTokenError("The media stream presented no token.")
    token_hash = _hash(token)
    now = timezone.now()
    spendable = Call.objects.filter(stream_token_hash=token_hash, stream_token_used_at__isnull=True)
    if call_code is not None:
        spendable = spendable.filter(code=call_code)
    spent = (
        spendable
        .filter(Q(stream_token_expires_at__gt=now))
        .exclude(status__in=FINAL_STATUSES)
        .update(stream_token_used_at=now)
    )
    # With its campaign: the live call reads the campaign's agent profile (no query from the event loop).
    call = Call.objects.select_related("campaign").filter(stream_token_hash=token_hash).first()
    if spent == 1 and call is not None:
        logger.info("Stream token redeemed sid=%s call=%s", call.twilio_sid, call.code)
        return call
    raise StreamTokenError(_why_refused(call, now, call_code))


def _why_refused(call: Call | None, now, call_code: str | None) -> str:
    if call is None:
        return "The media stream token is unknown."
    logger.warning("Stream token refused sid=%s call=%s", call.twilio_sid, call.code)
    if call_code is not None and str(call.code) != str(call_code):
        return "The media stream token belongs to another call."
    if call.stream_token_used_at is not None:
        return "The media stream token was already used."
    if call.is_final:
        return "The call has already ended."
    return "The media stream token has expired."
