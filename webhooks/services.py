"""What webhooks out do: write a delivery per subscribed endpoint in the transaction that changed the state, send
it from the worker (signed, bounded), retry with exponential backoff for WEBHOOK_RETRY_FOR, re-send, test."""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from calls.models import Call
from campaigns.models import Campaign
from webhooks.models import Delivery, Endpoint, Event
from webhooks.payloads import body_encode, test_payload
from webhooks.sender import webhook_post
from webhooks.signing import SIGNATURE_HEADER, signature_header

log = logging.getLogger(__name__)

SEND_TASK = "webhooks.tasks.delivery_send"
RETRY_FIRST_DELAY = 30  # seconds before the 2nd attempt; doubled after each failure
RETRY_MAX_DELAY = 3600  # never more than an hour between attempts
RESPONSE_BODY_KEPT = 2000  # characters of a failed answer stored on the delivery
PURGE_BATCH = 500  # deliveries deleted per statement: short transactions, well under SQLite's variable limit
FINISHED = (Delivery.Status.DELIVERED, Delivery.Status.FAILED)


def retry_delay(*, attempts: int) -> timedelta:
    """How long to wait after `attempts` failed attempts: 30 s, 1 min, 2 min, ... up to an hour."""
    return timedelta(seconds=min(RETRY_FIRST_DELAY * 2 ** (attempts - 1), RETRY_MAX_DELAY))


def deliveries_create(*, event: Event, payload: Callable[[], dict], call: Call | None = None,
                      campaign: Campaign | None = None) -> list[Delivery]:
    """Write a pending Delivery of `event` for each active endpoint subscribed to it, in the current transaction,
    and enqueue `webhooks.tasks.delivery_send` for each once it commits (a rollback sends nothing). The body is
    built (by `payload()`) only when someone listens."""
    endpoints = [endpoint for endpoint in Endpoint.objects.filter(active=True) if endpoint.wants(event)]
    if not endpoints:
        return []
    event_id, now = uuid.uuid4(), timezone.now()
    body = body_encode(event=event, event_id=event_id, created_at=now, payload=payload())
    deliveries = [Delivery.objects.create(endpoint=endpoint, event=event, event_id=event_id, body=body, call=call,
                                          campaign=campaign) for endpoint in endpoints]
    for delivery in deliveries:
        _enqueue(delivery)
    return deliveries


def delivery_resend(*, delivery: Delivery) -> Delivery:
    """Write a new pending Delivery with the same endpoint, event, event_id and body, and enqueue it after commit."""
    copy = Delivery.objects.create(endpoint=delivery.endpoint, event=delivery.event, event_id=delivery.event_id,
                                   body=delivery.body, call=delivery.call, campaign=delivery.campaign,
                                   resent_from=delivery)
    _enqueue(copy)
    return copy


def endpoint_send_test(*, endpoint: Endpoint) -> Delivery:
    """Write a `webhook.test` Delivery to `endpoint` (active or not) and enqueue it after commit."""
    event_id = uuid.uuid4()
    body = body_encode(event=Event.TEST, event_id=event_id, created_at=timezone.now(),
                       payload=test_payload(endpoint_description=str(endpoint)))
    delivery = Delivery.objects.create(endpoint=endpoint, event=Event.TEST, event_id=event_id, body=body)
    _enqueue(delivery)
    return delivery


def delivery_send(*, delivery: Delivery) -> Delivery:
    """Make one attempt: POST the signed body (WEBHOOK_TIMEOUT) and store the answer on the delivery.

    Writes status (delivered; retrying, with a django-q2 Schedule for the next attempt; failed once the next one
    would fall past WEBHOOK_RETRY_FOR after the delivery was written, or at once when the endpoint's address is
    one webhooks may not reach, webhooks.addresses), attempts, response code, time taken and,
    on failure, the start of the answer. A delivery no longer pending, or whose endpoint was made inactive (test
    events excepted), is not sent.
    """
    if delivery.status not in (Delivery.Status.PENDING, Delivery.Status.RETRYING):
        return delivery
    endpoint = delivery.endpoint
    if not endpoint.active and delivery.event != Event.TEST:
        delivery.status, delivery.error, delivery.next_attempt_at = Delivery.Status.FAILED, "endpoint inactive", None
        delivery.save(update_fields=["status", "error", "next_attempt_at"])
        return delivery
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json", "User-Agent": "voicebot-webhooks/1",
        "Voicebot-Event": delivery.event, "Voicebot-Event-Id": str(delivery.event_id),
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, timestamp=int(time.time()), body=body),
    }
    result = webhook_post(url=endpoint.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT,
                          allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES)
    _attempt_store(delivery, status=result.status, ok=result.ok, error=result.error,
                   answer=result.body.decode("utf-8", "replace"), duration_ms=result.duration_ms,
                   retry=not result.refused)
    if result.refused:
        log.warning("webhook delivery %s (%s, call %s) to endpoint %s not sent, %s", delivery.pk, delivery.event,
                    _call_sid(delivery), endpoint.pk, result.error)
    log.info("webhook delivery %s (%s, call %s) to endpoint %s: attempt %s %s", delivery.pk, delivery.event,
             _call_sid(delivery), endpoint.pk, delivery.attempts, delivery.status)
    return delivery


def deliveries_purge(*, now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete finished (delivered or given-up) deliveries written more than WEBHOOK_DELIVERY_RETENTION_DAYS ago, in
    batches of `batch` rows; 0 days keeps them all. Pending and retrying deliveries are never deleted. Returns how
    many were deleted."""
    days = settings.WEBHOOK_DELIVERY_RETENTION_DAYS
    if days <= 0:
        return 0
    old = Delivery.objects.filter(status__in=FINISHED, created_at__lt=(now or timezone.now()) - timedelta(days=days))
    deleted = 0
    while ids := list(old.order_by("pk").values_list("pk", flat=True)[:batch]):
        # Filtered again on delete: a re-send or a late attempt changing a row meanwhile keeps it.
        deleted += old.filter(pk__in=ids).delete()[0]
    log.info("webhook deliveries purge: %d deleted (retention %d days)", deleted, days)
    return deleted


def _attempt_store(delivery: Delivery, *, status: int | None, ok: bool, error: str, answer: str,
                   duration_ms: int, retry: bool) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.response_code, delivery.duration_ms = now, status, duration_ms
    delivery.error, delivery.response_body = error, "" if ok else answer[:RESPONSE_BODY_KEPT]
    next_at = now + retry_delay(attempts=delivery.attempts)
    if ok:
        delivery.status, delivery.next_attempt_at = Delivery.Status.DELIVERED, None
    elif retry and next_at <= delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_FOR):
        delivery.status, delivery.next_attempt_at = Delivery.Status.RETRYING, next_at
    else:
        delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
    with transaction.atomic():
        delivery.save()
        if delivery.status == Delivery.Status.RETRYING:
            name = f"webhook-delivery-{delivery.pk}-attempt-{delivery.attempts + 1}"
            Schedule.objects.filter(name=name).delete()  # left by a run of this task the broker handed out twice
            schedule(SEND_TASK, delivery.pk, schedule_type=Schedule.ONCE, next_run=next_at, name=name)


def _enqueue(delivery: Delivery) -> None:
    # The worker sends it: the request that changed the state never waits for a receiver.
    timeout = int(settings.WEBHOOK_TIMEOUT) * 2 + 30
    transaction.on_commit(lambda: async_task(SEND_TASK, delivery.pk, task_name=f"webhook-delivery-{delivery.pk}",
                                             timeout=timeout))


def _call_sid(delivery: Delivery) -> str:
    if delivery.call_id is None:
        return "-"
    return delivery.call.twilio_sid or f"#{delivery.call_id}"
