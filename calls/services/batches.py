"""Calling many contacts from the admin: pick who may be called, then dial them paced, in the background.

Pacing is a chain of short django-q2 tasks rather than one schedule per contact: the q2 scheduler only wakes
every ~15 s, so per-contact schedules would fire in bursts far above Twilio's calls-per-second limit, and
thousands of Schedule rows would clutter the admin. Each task dials at most a minute's worth of contacts, one every
1/CALLS_PER_SECOND seconds (well under Q_CLUSTER's timeout), then enqueues the rest. Only one task of a batch runs
at a time, so the pace holds however many workers there are. A task that is retried (worker killed) skips the
contacts it already dialled in this batch, so nobody is called twice.
"""
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from calls.exceptions import CallError, CallRefused
from calls.models import Call
from calls.services.placing import place_call
from contacts.models import CallRefusal, Contact

logger = logging.getLogger(__name__)

BATCH_TASK = "calls.tasks.place_call_batch"
# Seconds of dialling per task: short enough to stay far below Q_CLUSTER["timeout"] and to lose little on a crash.
BATCH_SECONDS = 60


@dataclass(frozen=True)
class CallBatchPlan:
    """Who in a selection will be called, and how many are skipped and why."""

    contact_ids: list[int]
    do_not_call: int = 0
    number_invalid: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.do_not_call + self.number_invalid

    def seconds_to_start_all(self, *, calls_per_second: float) -> float:
        return max(0, len(self.contact_ids) - 1) / calls_per_second


def call_batch_plan(*, contacts: QuerySet[Contact]) -> CallBatchPlan:
    """Split `contacts` into those we may dial and those we must not (do-not-call, invalid number). Writes nothing."""
    ids: list[int] = []
    do_not_call = invalid = 0
    for contact in contacts.order_by("pk").only("pk", *Contact.CALL_REFUSAL_FIELDS).iterator():
        refusal = contact.call_refusal()
        if refusal is None:
            ids.append(contact.pk)
        elif refusal is CallRefusal.DO_NOT_CALL:
            do_not_call += 1
        else:
            invalid += 1
    examples = list(Contact.objects.filter(pk__in=ids[:10]).order_by("pk").values_list("phone_number", flat=True))
    return CallBatchPlan(contact_ids=ids, do_not_call=do_not_call, number_invalid=invalid, examples=examples)


def call_batch_enqueue(*, plan: CallBatchPlan, calls_per_second: float) -> str | None:
    """Enqueue the first task of the chain that dials `plan`'s contacts; returns its task id (None: nobody to call).

    Writes nothing itself; the tasks write what place_call writes.
    """
    if not plan.contact_ids:
        return None
    since = timezone.now()
    logger.info("Queued a batch of %s calls at %s per second", len(plan.contact_ids), calls_per_second)
    return _enqueue(contact_ids=plan.contact_ids, calls_per_second=calls_per_second, since=since)


def call_batch_place(*, contact_ids: list[int], calls_per_second: float, since: datetime) -> int:
    """Dial the first BATCH_SECONDS' worth of `contact_ids`, paced, then enqueue the rest; returns how many dialled.

    Contacts already called since `since` (a retried task) and contacts that became do-not-call meanwhile are
    skipped. Writes what place_call writes; enqueues the next task of the chain.
    """
    size = max(1, int(BATCH_SECONDS * calls_per_second))
    now_ids, rest = contact_ids[:size], contact_ids[size:]
    done = set(Call.objects.filter(contact_id__in=now_ids, created_at__gte=since).values_list("contact_id", flat=True))
    interval, started, dialled = 1 / calls_per_second, time.monotonic(), 0
    for contact in Contact.objects.filter(pk__in=now_ids).exclude(pk__in=done).order_by("pk"):
        time.sleep(max(0.0, started + dialled * interval - time.monotonic()))
        dialled += _dial(contact=contact)
    if rest:
        _enqueue(contact_ids=rest, calls_per_second=calls_per_second, since=since)
    return dialled


def _dial(*, contact: Contact) -> bool:
    """Place one call; False when it was refused before reaching Twilio (so it takes no pacing slot)."""
    try:
        call = place_call(contact=contact)
    except CallRefused as exc:
        logger.info("Batch call to contact=%s refused: %s", contact.pk, exc.message)
        return False
    except CallError as exc:
        # One number Twilio refuses must not stop the batch; place_call has recorded it on the call.
        logger.warning("Batch call to contact=%s not placed: %s", contact.pk, exc.message)
        return True
    logger.info("Batch call placed sid=%s contact=%s", call.twilio_sid, contact.pk)
    return True


def _enqueue(*, contact_ids: list[int], calls_per_second: float, since: datetime) -> str:
    name = f"call-batch-{since:%Y%m%d%H%M%S}-{contact_ids[0]}"
    return async_task(BATCH_TASK, contact_ids, calls_per_second, since, task_name=name)

