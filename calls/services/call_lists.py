"""A campaign from the command line (`manage.py place_call`): numbers in, calls placed and awaited, outcomes out.

`campaign_plan` reads the numbers (arguments or a spreadsheet through contacts.spreadsheets) and decides, without
writing anything, which will be called and which are skipped and why. `Campaign.run` dials them with at most
`concurrency` calls in flight and at most `calls_per_second` new calls per second, waits for each to end with
`call_wait_final` (the status callbacks land in the web process; the wait re-reads the database, so it works from
this separate process with SQLite alone, and the channel layer wakes it at once when Redis is shared), and can be
cancelled: pending calls are not placed, live ones are hung up.
"""
import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from calls.exceptions import CallError, CallRefused, CallWaitTimeout
from calls.models import Call, CallStatus
from calls.services import call_hang_up, call_sync_from_twilio, call_wait_final, place_call
from contacts.models import CallRefusal, Contact
from contacts.phones import InvalidPhoneNumber, normalize_phone
from contacts.spreadsheets import SpreadsheetRejected, read_contact_rows
from extraction.schemas import ExtractedData

logger = logging.getLogger(__name__)

# After a hang-up, how long to wait for Twilio's final callback before asking Twilio for the call's state.
HANGUP_GRACE_SECONDS = 5.0
NOT_PLACED = "not placed"
REFUSED = "refused"
_CHUNK = 900
_BARRED = {
    CallRefusal.DO_NOT_CALL: "on the do-not-call list",
    CallRefusal.NUMBER_INVALID: "rejected by the carrier as invalid before (correct the contact's number first)",
    CallRefusal.BAD_NUMBER: "not a valid phone number",
    CallRefusal.COSTLY_NUMBER: "a premium-rate or shared-cost number",
    CallRefusal.COUNTRY_NOT_ALLOWED: "in a country not in ALLOWED_CALL_COUNTRIES",
}


class CampaignInputError(Exception):
    """The numbers cannot be read at all (missing or unreadable file); the message says what to do."""


@dataclass(frozen=True)
class Target:
    """One number to call; `where` is how the operator finds it in their input ("row 4", "argument 2")."""

    where: str
    number: str
    name: str = ""


@dataclass(frozen=True)
class Skipped:
    where: str
    input: str
    reason: str


@dataclass
class CampaignPlan:
    targets: list[Target]
    skipped: list[Skipped]
    header_skipped: bool = False


@dataclass
class CallOutcome:
    """What became of one target; filled in as the call moves on."""

    target: Target
    status: str = NOT_PLACED
    call_id: int | None = None
    sid: str = ""
    duration: float | None = None
    answered_by: str = ""
    end_reason: str = ""
    error: str = ""
    extracted: dict = field(default_factory=dict)
    timed_out: bool = False

    def failed(self, *, unanswered_is_failure: bool = False) -> bool:
        """A call that failed or could not be placed; busy/no-answer only with `unanswered_is_failure`."""
        if self.status == CallStatus.FAILED or self.timed_out:
            return True
        return unanswered_is_failure and self.status in (CallStatus.BUSY, CallStatus.NO_ANSWER)

    def update_from(self, call: Call) -> None:
        self.call_id, self.sid, self.status = call.pk, call.twilio_sid or "", call.status
        self.duration, self.answered_by, self.end_reason = call.duration, call.answered_by, call.end_reason
        self.error = self.error or call.error
        self.extracted = ExtractedData.from_stored(call.extracted_data).values


def campaign_plan(*, numbers: Sequence[str] = (), file_path: Path | None = None) -> CampaignPlan:
    """The numbers to call from `numbers` and/or the spreadsheet at `file_path`; writes nothing.

    Skips, with the reason: invalid numbers, repeats of an earlier number, do-not-call contacts and numbers the
    carrier rejected before. Raises CampaignInputError when the file cannot be read.
    """
    entries = [(f"argument {i}", raw, "") for i, raw in enumerate(numbers, start=1)]
    header = False
    if file_path is not None:
        rows, header = _file_rows(file_path)
        entries += rows
    targets, skipped, seen = [], [], {}
    for where, raw, name in entries:
        try:
            number = normalize_phone(raw)
        except InvalidPhoneNumber as exc:
            skipped.append(Skipped(where, _text(raw), f"not a valid phone number: {exc.reason}"))
            continue
        if number in seen:
            skipped.append(Skipped(where, _text(raw), f"{number} is a repeat of {seen[number]}"))
            continue
        seen[number] = where
        targets.append(Target(where=where, number=number, name=_text(name)))
    return _without_barred(CampaignPlan(targets=targets, skipped=skipped, header_skipped=header))


def _file_rows(path: Path) -> tuple[list[tuple[str, object, object]], bool]:
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            sheet = read_contact_rows(file=file, filename=path.name, size=size)
    except OSError as exc:
        raise CampaignInputError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except SpreadsheetRejected as exc:
        raise CampaignInputError(f"{path.name}: {exc}") from None
    return [(f"row {row.row}", row.phone, row.name) for row in sheet.rows], sheet.header is not None


def _without_barred(plan: CampaignPlan) -> CampaignPlan:
    numbers = [target.number for target in plan.targets]
    barred: dict[str, str] = {}
    for start in range(0, len(numbers), _CHUNK):
        chunk = Contact.objects.filter(phone_number__in=numbers[start:start + _CHUNK])
        for contact in chunk.only(*Contact.CALL_REFUSAL_FIELDS):
            refusal = contact.call_refusal()
            if refusal is not None:
                barred[contact.phone_number] = _BARRED[refusal]
    kept = [target for target in plan.targets if target.number not in barred]
    refused = [Skipped(t.where, t.number, barred[t.number]) for t in plan.targets if t.number in barred]
    plan.skipped = sorted(plan.skipped + refused, key=lambda s: _order(s.where))
    plan.targets = kept
    return plan


def _order(where: str) -> tuple[int, int]:
    kind, _, number = where.partition(" ")
    return (0 if kind == "argument" else 1, int(number))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


Listener = Callable[[str, CallOutcome], None]


class Campaign:
    """Dial `targets` paced and bounded, wait for each call to end; `cancel()` stops it cleanly."""

    def __init__(
        self, *, targets: Sequence[Target], concurrency: int = 1, calls_per_second: float = 1.0,
        timeout: float = 600.0, listener: Listener | None = None,
    ) -> None:
        self.outcomes = [CallOutcome(target=target) for target in targets]
        self.concurrency = max(1, concurrency)
        self.interval = 1.0 / calls_per_second
        self.timeout = timeout
        self.listener = listener or (lambda event, outcome: None)
        self.cancelled = False
        self._cancel_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_dial_at = 0.0

    async def run(self) -> list[CallOutcome]:
        """Place and await every call. Writes what place_call/call_hang_up write; returns the outcomes in order."""
        self._loop = asyncio.get_running_loop()
        self._cancel_event = asyncio.Event()
        if self.cancelled:
            self._cancel_event.set()
        pending = iter(self.outcomes)
        workers = min(self.concurrency, len(self.outcomes))
        await asyncio.gather(*(self._worker(pending) for _ in range(workers)))
        await sync_to_async(_refresh)(self.outcomes)
        return self.outcomes

    def cancel(self) -> None:
        """Stop placing calls and hang up the live ones. Safe from a signal handler or another thread."""
        self.cancelled = True
        if self._loop is not None and self._cancel_event is not None:
            self._loop.call_soon_threadsafe(self._cancel_event.set)

    async def _worker(self, pending: Iterator[CallOutcome]) -> None:
        # One iterator shared by every worker: the event loop runs one at a time, so each target is taken once.
        for outcome in pending:
            if self.cancelled or await self._wait_for_turn():
                outcome.error = "Cancelled before dialling."
                self.listener("skipped", outcome)
                continue
            try:
                await self._call(outcome)
            except Exception as exc:
                # One broken call (say, a database hiccup) must not abandon the others or lose the workbook.
                logger.exception("Campaign call to %s failed sid=%s", outcome.target.number, outcome.sid)
                outcome.status, outcome.error = CallStatus.FAILED, f"Unexpected error: {exc}"
            self.listener("done", outcome)

    async def _wait_for_turn(self) -> bool:
        """Sleep until this call may start (calls_per_second); True when cancelled meanwhile."""
        now = self._loop.time()
        start = max(now, self._next_dial_at)
        self._next_dial_at = start + self.interval  # reserved before sleeping, so workers never share a slot
        try:
            await asyncio.wait_for(self._cancel_event.wait(), start - now)
        except asyncio.TimeoutError:
            return False
        return True

    async def _call(self, outcome: CallOutcome) -> None:
        try:
            call = await sync_to_async(_place, thread_sensitive=False)(outcome.target)
        except CallRefused as exc:
            outcome.status, outcome.error = REFUSED, exc.message
            return
        except CallError as exc:
            outcome.status, outcome.error = CallStatus.FAILED, exc.message
            return
        outcome.update_from(call)
        self.listener("placed", outcome)
        outcome.update_from(await self._await_end(call, outcome))

    async def _await_end(self, call: Call, outcome: CallOutcome) -> Call:
        waiting = asyncio.ensure_future(call_wait_final(call=call, timeout=self.timeout))
        cancelled = asyncio.ensure_future(self._cancel_event.wait())
        await asyncio.wait({waiting, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        cancelled.cancel()
        if waiting.done():
            try:
                return waiting.result()
            except CallWaitTimeout:
                outcome.timed_out = True
                outcome.error = f"No final status within {self.timeout:g} s; hung up."
                return await self._hang_up(call, outcome)
        waiting.cancel()
        outcome.error = "Cancelled by the operator; hung up."
        return await self._hang_up(call, outcome)

    async def _hang_up(self, call: Call, outcome: CallOutcome) -> Call:
        logger.info("Campaign hanging up sid=%s", call.twilio_sid)
        try:
            call = await sync_to_async(call_hang_up)(call=call)
            return await call_wait_final(call=call, timeout=HANGUP_GRACE_SECONDS)
        except CallWaitTimeout:
            return await sync_to_async(_settle)(call)
        except CallError as exc:
            outcome.error += f" Hang-up failed: {exc.message}"
            return await Call.objects.aget(pk=call.pk)


def _place(target: Target) -> Call:
    """Dial one target from a worker thread of our own; its database connection is closed after each call."""
    close_old_connections()
    try:
        contact, _ = Contact.objects.get_or_create(phone_number=target.number, defaults={"name": target.name[:200]})
        return place_call(contact=contact)
    finally:
        close_old_connections()


def _settle(call: Call) -> Call:
    """Twilio's own word on a call whose final callback has not come (yet)."""
    call.refresh_from_db()
    if call.is_final or not call.twilio_sid:
        return call
    try:
        return call_sync_from_twilio(call=call)
    except CallError as exc:
        logger.warning("Could not fetch sid=%s after hang-up: %s", call.twilio_sid, exc.message)
        return call


def _refresh(outcomes: list[CallOutcome]) -> None:
    """Re-read every placed call: a late callback or a finished extraction shows in the results."""
    by_id = {outcome.call_id: outcome for outcome in outcomes if outcome.call_id}
    ids = list(by_id)
    for start in range(0, len(ids), _CHUNK):
        for call in Call.objects.filter(pk__in=ids[start:start + _CHUNK]):
            by_id[call.pk].update_from(call)
