"""Old deliveries are purged: finished ones written more than WEBHOOK_DELIVERY_RETENTION_DAYS ago, daily, by the
schedule `setup_schedules` creates; never a pending or retrying one; 0 days keeps them all."""
import pydoc
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import deliveries_purge

pytestmark = pytest.mark.django_db

Status = Delivery.Status


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint.objects.create(url="https://crm.example/hooks", events=[Event.CALL_COMPLETED])


def delivery(endpoint: Endpoint, *, days_old: float, status: str) -> Delivery:
    row = Delivery.objects.create(endpoint=endpoint, event=Event.CALL_COMPLETED, body="{}", status=status)
    Delivery.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return row


def remaining() -> set[int]:
    return set(Delivery.objects.values_list("pk", flat=True))


def test_finished_deliveries_older_than_the_retention_are_deleted_and_others_kept(settings, endpoint):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    old_delivered = delivery(endpoint, days_old=31, status=Status.DELIVERED)
    old_failed = delivery(endpoint, days_old=45, status=Status.FAILED)
    old_pending = delivery(endpoint, days_old=40, status=Status.PENDING)
    old_retrying = delivery(endpoint, days_old=40, status=Status.RETRYING)
    recent_delivered = delivery(endpoint, days_old=29, status=Status.DELIVERED)
    recent_failed = delivery(endpoint, days_old=1, status=Status.FAILED)

    assert deliveries_purge() == 2

    assert remaining() == {old_pending.pk, old_retrying.pk, recent_delivered.pk, recent_failed.pk}
    assert old_delivered.pk not in remaining() and old_failed.pk not in remaining()


def test_it_deletes_in_batches_until_none_is_left(settings, endpoint):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 7
    for _ in range(7):
        delivery(endpoint, days_old=8, status=Status.DELIVERED)
    kept = delivery(endpoint, days_old=8, status=Status.RETRYING)

    assert deliveries_purge(batch=3) == 7

    assert remaining() == {kept.pk}


def test_a_resent_copy_outlives_its_purged_original(settings, endpoint):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    original = delivery(endpoint, days_old=31, status=Status.FAILED)
    copy = Delivery.objects.create(endpoint=endpoint, event=Event.CALL_COMPLETED, body="{}", resent_from=original,
                                   status=Status.DELIVERED)

    deliveries_purge()

    copy.refresh_from_db()
    assert remaining() == {copy.pk} and copy.resent_from is None


def test_zero_days_keeps_every_delivery(settings, endpoint):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 0
    ancient = delivery(endpoint, days_old=3650, status=Status.DELIVERED)

    assert deliveries_purge() == 0
    assert remaining() == {ancient.pk}


def test_setup_schedules_runs_the_purge_daily(settings, endpoint):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    old = delivery(endpoint, days_old=31, status=Status.DELIVERED)

    call_command("setup_schedules")
    schedule = Schedule.objects.get(name="webhooks-purge-deliveries")
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.DAILY, -1)
    assert pydoc.locate(schedule.func)() == 1  # what the worker runs when the schedule comes due

    assert old.pk not in remaining()
