"""Twilio callbacks the database could not take: retried within the request, then kept on disk for the worker.

A status or AMD callback tells us something Twilio will not say again (a call's end, who answered). When the
database refuses the write (SQLite locked past its busy timeout, PostgreSQL restarting), the request retries for
WEBHOOK_DB_RETRY_SECONDS; after that the callback, as received and already signature-checked, is written to
WEBHOOK_SPOOL_DIR (one private file each, needing no database) and answered 200, since Twilio must not be made to
retry what we hold. The worker's `twilio_callbacks_apply_spooled` applies the kept ones, per call in SequenceNumber
order, through the same services as the webhook: re-applying one is harmless (replay check, forward-only states).
"""
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, connection

from calls.services.placing import call_link_twilio_sid
from calls.services.status import CallbackOutcome, call_amd_callback_apply, call_status_callback_apply
from voicebot_site.log_safety import log_value
from voicebot_site.private_files import private_file_open

logger = logging.getLogger(__name__)

APPLIERS: dict[str, Callable[..., CallbackOutcome]] = {
    "status": call_status_callback_apply,
    "amd": call_amd_callback_apply,
}
# Pauses between attempts within a request; the last one repeats until WEBHOOK_DB_RETRY_SECONDS is spent.
_BACKOFF_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8)
FAILED_FOLDER = "failed"


class SpooledCallbackInvalid(Exception):
    """A spooled file that can never be applied: unreadable, or of a kind we do not know."""


def twilio_callback_apply(*, kind: str, code: uuid.UUID | None, params: Mapping[str, str]) -> CallbackOutcome:
    """Apply one signed callback: save the CallSid on the call `code` named by its URL if it has none, then apply
    the `kind` ("status" or "amd") service. Writes what call_link_twilio_sid and that service write.
    """
    sid = params.get("CallSid", "")
    if code is not None and sid and not call_link_twilio_sid(code=code, call_sid=sid):
        # The call has another SID: the CallSid alone decides which call this reports on, as on the shared URL.
        logger.warning("Callback sid=%s names call=%s, which has another SID", log_value(sid), code)
    return APPLIERS[kind](params=params)


def twilio_callback_apply_or_spool(
    *, kind: str, code: uuid.UUID | None, params: list[tuple[str, str]], path: str, signature: str
) -> CallbackOutcome:
    """Apply a signed callback, retrying a refused database write for up to WEBHOOK_DB_RETRY_SECONDS; if it still
    fails, keep it in the spool (twilio_callback_spool) and return SPOOLED. Writes what twilio_callback_apply writes.
    """
    deadline = time.monotonic() + settings.WEBHOOK_DB_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            return twilio_callback_apply(kind=kind, code=code, params=dict(params))
        except OperationalError as exc:
            _drop_broken_connection()
            pause = _BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)]
            attempt += 1
            if time.monotonic() + pause > deadline:
                error = exc
                break
            logger.info("Database refused %s callback sid=%s (attempt %d), retrying: %s",
                        kind, log_value(dict(params).get("CallSid", "")), attempt, exc)
            time.sleep(pause)
    twilio_callback_spool(kind=kind, code=code, params=params, path=path, signature=signature)
    logger.warning("Database refused %s callback sid=%s %d times (%s): kept in the spool for the worker",
                   kind, log_value(dict(params).get("CallSid", "")), attempt, error)
    return CallbackOutcome.SPOOLED


def _drop_broken_connection() -> None:
    """A connection the server dropped (PostgreSQL restart) must be replaced before the next attempt; a locked SQLite
    connection is still good. Inside a transaction (a caller's atomic block) the connection is not ours to close.
    """
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def twilio_callback_spool(
    *, kind: str, code: uuid.UUID | None, params: list[tuple[str, str]], path: str, signature: str
) -> Path:
    """Keep a signed callback in WEBHOOK_SPOOL_DIR as received (params, URL path, signature, time of receipt).

    Writes one file, 0600 in a 0700 folder, atomically (a temporary file renamed into place), so the worker never
    reads half of one. Returns its path. Touches no database.
    """
    received_ns = time.time_ns()
    record = {
        "kind": kind,
        "code": str(code) if code else None,
        "path": path,
        "params": [list(pair) for pair in params],
        "signature": signature,
        "received_at": datetime.fromtimestamp(received_ns / 1e9, tz=timezone.utc).isoformat(),
        "received_ns": received_ns,
    }
    folder = Path(settings.WEBHOOK_SPOOL_DIR)
    final = folder / f"{received_ns:020d}-{uuid.uuid4().hex}.json"
    temporary = folder / f".{final.name}.tmp"
    with private_file_open(temporary) as file:  # private file, private folders: it holds phone call data
        file.write(json.dumps(record).encode())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, final)
    return final


def twilio_callbacks_apply_spooled() -> int:
    """Apply the callbacks kept in WEBHOOK_SPOOL_DIR: per call by SequenceNumber, then by time of receipt.

    Deletes each file once applied (or found already applied). One that can never be applied (unreadable, unknown
    kind, unknown call, any other error) is moved to the `failed/` subfolder and logged, never retried. When the
    database refuses again, stops and leaves the rest for the next run. Returns how many were applied. Writes what
    twilio_callback_apply writes.
    """
    folder = Path(settings.WEBHOOK_SPOOL_DIR)
    if not folder.is_dir():
        return 0
    readable = []
    for file in folder.glob("*.json"):
        try:
            readable.append((file, _read(file)))
        except SpooledCallbackInvalid as exc:
            _set_aside(file=file, reason=str(exc), sid="")
    applied = 0
    for position, (file, record) in enumerate(sorted(readable, key=lambda item: _order(item[1]))):
        params = dict(record["params"])
        sid = params.get("CallSid", "")
        try:
            outcome = twilio_callback_apply(kind=record["kind"], code=record["code"], params=params)
        except OperationalError as exc:
            logger.warning("Database still refuses spooled callbacks (%s): %d left for the next run", exc,
                           len(readable) - position)
            break
        except Exception as exc:  # noqa: BLE001 - whatever it is, retrying the same payload will not mend it
            logger.exception("Spooled %s callback sid=%s failed", record["kind"], log_value(sid))
            _set_aside(file=file, reason=f"{type(exc).__name__}: {exc}", sid=sid)
            continue
        if outcome == CallbackOutcome.UNKNOWN_CALL:
            _set_aside(file=file, reason="no call has this CallSid", sid=sid)
            continue
        file.unlink(missing_ok=True)  # another worker's run may have applied the same file at once: harmless
        applied += outcome == CallbackOutcome.APPLIED
        logger.info("Applied spooled %s callback sid=%s received %s: %s", record["kind"], log_value(sid),
                    record["received_at"], outcome)
    return applied


def _read(file: Path) -> dict:
    try:
        record = json.loads(file.read_text())
        params = [(str(name), str(value)) for name, value in record["params"]]
        kind, received_ns = record["kind"], int(record["received_ns"])
        code = uuid.UUID(record["code"]) if record.get("code") else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpooledCallbackInvalid(f"unreadable: {type(exc).__name__}: {exc}") from exc
    if kind not in APPLIERS:
        raise SpooledCallbackInvalid(f"unknown kind {kind!r}")
    return {**record, "params": params, "code": code, "received_ns": received_ns}


def _order(record: dict) -> tuple:
    """Per call, Twilio's SequenceNumber; callbacks without one (AMD) after them; then the time of receipt."""
    params = dict(record["params"])
    sequence = params.get("SequenceNumber", "")
    numbered = sequence.isdigit()
    return (params.get("CallSid", ""), not numbered, int(sequence) if numbered else 0, record["received_ns"])


def _set_aside(*, file: Path, reason: str, sid: str) -> None:
    failed = file.parent / FAILED_FOLDER
    failed.mkdir(mode=0o700, exist_ok=True)
    try:
        os.replace(file, failed / file.name)
    except FileNotFoundError:  # another worker's run took it first
        return
    logger.warning("Spooled callback sid=%s set aside in %s: %s", log_value(sid), failed, reason)
