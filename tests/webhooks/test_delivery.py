"""Sending a delivery to a real receiver: signed, recorded, retried with backoff through django-q2 on 500, timeout
and refused connections, given up after WEBHOOK_RETRY_FOR; only http(s), bounded answers, no redirects."""
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from tests.fakes.webhook_receiver import Answer, closed_port_url
from tests.webhooks.conftest import SECRET, send
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import RESPONSE_BODY_KEPT, endpoint_send_test, retry_delay

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(endpoint) -> Delivery:
    return Delivery.objects.create(endpoint=endpoint, event=Event.CALL_COMPLETED,
                                   body=json.dumps({"event": "call.completed", "call_sid": "CA42"}))


def test_a_delivery_arrives_signed_and_is_marked_delivered(receiver, delivery):
    delivery = send(delivery)
    [request] = receiver.received
    assert request.verified and request.json() == {"event": "call.completed", "call_sid": "CA42"}
    assert request.path == "/hooks/voicebot?source=test"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Voicebot-Event"] == "call.completed"
    assert request.headers["Voicebot-Event-Id"] == str(delivery.event_id)
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.DELIVERED, 1, 200)
    assert delivery.error == "" and delivery.response_body == "" and delivery.duration_ms is not None
    assert not Schedule.objects.exists()


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(receiver, delivery):
    Endpoint.objects.filter(pk=delivery.endpoint_id).update(secret="whsec_not-the-receivers")
    delivery = send(Delivery.objects.get(pk=delivery.pk))
    assert receiver.received[0].verified is False
    assert (delivery.status, delivery.response_code, delivery.response_body) == (
        Delivery.Status.RETRYING, 401, "bad signature")


def test_a_500_is_retried_by_the_scheduler_with_backoff_until_it_is_delivered(receiver, delivery, q_sync):
    receiver.answers = [Answer(500, b"database down")]
    before = timezone.now()
    delivery = send(delivery)
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.RETRYING, 1, 500)
    assert delivery.response_body == "database down" and delivery.error == "HTTP 500"
    [retry] = Schedule.objects.all()
    assert (retry.func, retry.args, retry.schedule_type) == ("webhooks.tasks.delivery_send", f"({delivery.pk},)",
                                                             Schedule.ONCE)
    assert before + timedelta(seconds=30) <= retry.next_run <= timezone.now() + timedelta(seconds=30)
    assert delivery.next_attempt_at == retry.next_run

    scheduler(broker=get_broker())  # not due yet: nothing runs
    assert len(receiver.received) == 1
    Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())  # django-q2's scheduler runs it (inline here) through the task function
    delivery.refresh_from_db()
    assert len(receiver.received) == 2 and receiver.received[1].verified
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.DELIVERED, 2, 200)
    assert delivery.response_body == "" and not Schedule.objects.exists()


def test_a_receiver_that_does_not_answer_in_time_is_retried(receiver, delivery, settings):
    settings.WEBHOOK_TIMEOUT = 0.3
    receiver.answers = [Answer(hang=True)]
    delivery = send(delivery)
    assert (delivery.status, delivery.response_code, delivery.error) == (Delivery.Status.RETRYING, None, "timed out")
    assert Schedule.objects.count() == 1


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_timeout(receiver, delivery, settings):
    # Each byte comes well within the socket timeout; the whole answer would take 100 x 0.05 s, twice the timeout.
    settings.WEBHOOK_TIMEOUT = 2.5
    receiver.answers = [Answer(200, b"x" * 60, drip=0.05)]
    delivery = send(delivery)
    assert (delivery.status, delivery.response_code, delivery.error) == (Delivery.Status.RETRYING, None, "timed out")


def test_a_refused_connection_is_retried(delivery):
    Endpoint.objects.filter(pk=delivery.endpoint_id).update(url=closed_port_url())
    delivery = send(Delivery.objects.get(pk=delivery.pk))
    assert (delivery.status, delivery.response_code, delivery.error) == (
        Delivery.Status.RETRYING, None, "connection refused")
    assert Schedule.objects.count() == 1


def test_the_backoff_doubles_from_30_seconds_up_to_an_hour():
    delays = [retry_delay(attempts=n).total_seconds() for n in range(1, 11)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_retries_last_a_day_then_it_gives_up(receiver, delivery, settings):
    settings.WEBHOOK_RETRY_FOR = 86400
    # Attempts a day allows: every attempt whose wait still ends within the day after the event.
    waited, attempts = 0.0, 1
    while waited + retry_delay(attempts=attempts).total_seconds() <= 86400:
        waited += retry_delay(attempts=attempts).total_seconds()
        attempts += 1
    assert 25 <= attempts <= 30 and waited > 86400 - 3600

    receiver.answers = [Answer(503)]
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=23, minutes=59),
                                                   attempts=attempts - 1, status=Delivery.Status.RETRYING)
    delivery = send(Delivery.objects.get(pk=delivery.pk))
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (Delivery.Status.FAILED, attempts, None)
    assert delivery.response_code == 503 and not Schedule.objects.exists()


def test_a_failed_answer_is_kept_only_up_to_its_bound(receiver, delivery):
    receiver.answers = [Answer(500, b"x" * 100_000)]
    delivery = send(delivery)
    assert delivery.response_body == "x" * RESPONSE_BODY_KEPT


def test_a_redirect_is_not_followed(receiver, delivery):
    receiver.answers = [Answer(302, b"", (("Location", "http://169.254.169.254/latest/meta-data"),))]
    delivery = send(delivery)
    assert len(receiver.received) == 1
    assert (delivery.status, delivery.response_code) == (Delivery.Status.RETRYING, 302)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hooks", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
                                 "127.0.0.1:8000/hooks"])
def test_only_http_and_https_endpoints_are_accepted(url):
    with pytest.raises(ValidationError) as caught:
        Endpoint(url=url, events=[Event.CALL_COMPLETED]).full_clean()
    assert "url" in caught.value.message_dict


def test_a_stored_non_http_url_is_refused_without_connecting(delivery):
    Endpoint.objects.filter(pk=delivery.endpoint_id).update(url="file:///etc/passwd")
    delivery = send(Delivery.objects.get(pk=delivery.pk))
    assert delivery.response_code is None and delivery.error == "ValueError: not an http(s) URL: file"


def test_an_inactive_endpoint_stops_its_retries(receiver, delivery):
    Endpoint.objects.filter(pk=delivery.endpoint_id).update(active=False)
    delivery = send(Delivery.objects.get(pk=delivery.pk))
    assert receiver.received == [] and (delivery.status, delivery.error) == (Delivery.Status.FAILED,
                                                                             "endpoint inactive")


def test_a_delivered_one_is_not_sent_again_by_a_stray_task(receiver, delivery):
    send(delivery)
    send(delivery)
    assert len(receiver.received) == 1


def test_a_test_event_reaches_even_an_inactive_endpoint(receiver, endpoint, django_capture_on_commit_callbacks):
    Endpoint.objects.filter(pk=endpoint.pk).update(active=False)
    endpoint.refresh_from_db()
    with django_capture_on_commit_callbacks() as queued:
        delivery = endpoint_send_test(endpoint=endpoint)
    assert len(queued) == 1
    delivery = send(delivery)
    [request] = receiver.received
    assert request.verified and request.json()["event"] == "webhook.test"
    assert request.json()["event_id"] == str(delivery.event_id) and delivery.status == Delivery.Status.DELIVERED


def test_an_endpoint_gets_a_secret_when_none_is_given(db):
    first = Endpoint.objects.create(url="https://crm.example/hooks", events=[Event.CALL_COMPLETED])
    second = Endpoint.objects.create(url="https://crm.example/hooks", events=[Event.CALL_COMPLETED])
    assert first.secret.startswith("whsec_") and len(first.secret) > 40 and first.secret != second.secret
    assert SECRET not in (first.secret, second.secret)


@pytest.mark.parametrize("events", [[], ["call.started"], "call.completed", [Event.TEST]])
def test_an_endpoint_needs_known_events(events):
    with pytest.raises(ValidationError) as caught:
        Endpoint(url="https://crm.example/hooks", events=events).full_clean()
    assert "events" in caught.value.message_dict
