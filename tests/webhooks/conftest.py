"""Webhooks out: a real receiver on a socket and an endpoint pointed at it."""
from collections.abc import Iterator

import pytest

from tests.fakes.webhook_receiver import WebhookReceiver
from webhooks.models import SUBSCRIBABLE, Delivery, Endpoint
from webhooks.tasks import delivery_send

SECRET = "whsec_test-secret"


@pytest.fixture
def receiver(settings) -> Iterator[WebhookReceiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on 127.0.0.1, the deployment's own host
    with WebhookReceiver(secret=SECRET) as fake:
        yield fake


@pytest.fixture
def endpoint(db, receiver) -> Endpoint:
    return Endpoint.objects.create(url=receiver.url, events=list(SUBSCRIBABLE), secret=SECRET, description="CRM")


def send(delivery: Delivery) -> Delivery:
    """What the worker runs for a queued or scheduled delivery: the task function, by id."""
    delivery_send(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def queued_deliveries() -> list[int]:
    """The ids of the deliveries waiting in django-q2's queue for the worker."""
    from django_q.models import OrmQ

    return [queued.task["args"][0] for queued in OrmQ.objects.order_by("id")
            if queued.task.get("func") == "webhooks.tasks.delivery_send"]
