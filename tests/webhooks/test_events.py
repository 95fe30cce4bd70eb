"""The events: call.completed when a call reaches its final state (a real signed Twilio callback), call.processed when
processing stored its transcript and data (the real task against the fake OpenAI), campaign.completed. Each
delivery is written in the transaction of the change and sent only by the worker."""
import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from calls.api.serializers import CallRecordSerializer
from calls.models import Call, CallStatus
from calls.services import place_call
from calls.signals import call_final, call_processed
from campaigns.models import Campaign, CampaignContact, CampaignState, ContactState
from campaigns.scheduler import campaign_complete_if_settled
from extraction.tasks import process_call
from tests.campaigns.helpers import campaign_of, madrid_contacts
from tests.extraction.conftest import make_call, openai_fake  # noqa: F401 (fixtures)
from tests.factories import CallFactory, ContactFactory
from tests.fakes.webhook_receiver import Answer
from tests.webhooks.conftest import queued_deliveries, send
from webhooks.models import Delivery, Endpoint, Event
from webhooks.payloads import call_payload

pytestmark = pytest.mark.django_db

ENVELOPE = {"event", "event_id", "created_at"}
CALL_KEYS = set(CallRecordSerializer.Meta.fields) | {"campaign_id", "processing_status"}


@pytest.fixture(autouse=True)
def _fast_pace(settings):
    settings.CALLS_PER_SECOND = 1000


@pytest.fixture
def placed(fake_twilio) -> Call:
    return place_call(contact=ContactFactory())


def test_a_final_status_callback_writes_call_completed_and_the_worker_sends_it(
        client, fake_twilio, placed, endpoint, receiver, django_capture_on_commit_callbacks, caplog):
    with django_capture_on_commit_callbacks(execute=True):
        assert fake_twilio.status_callback(placed.twilio_sid, "completed", duration=42).post(client).status_code == 200
    [delivery] = Delivery.objects.all()
    assert receiver.received == [] and queued_deliveries() == [delivery.pk]
    assert (delivery.event, delivery.call_id, delivery.status) == (Event.CALL_COMPLETED, placed.pk, "pending")

    with caplog.at_level("INFO", logger="webhooks"):
        delivery = send(delivery)
    [request] = receiver.received
    body = request.json()
    assert request.verified and delivery.status == Delivery.Status.DELIVERED
    [line] = [record.getMessage() for record in caplog.records if record.name == "webhooks.services"]
    assert placed.twilio_sid in line and "delivered" in line and endpoint.secret not in line
    assert set(body) == ENVELOPE | CALL_KEYS
    assert (body["event"], body["event_id"]) == ("call.completed", str(delivery.event_id))
    placed.refresh_from_db()
    assert {key: body[key] for key in CallRecordSerializer.Meta.fields} == json.loads(
        json.dumps(CallRecordSerializer(placed).data))
    assert (body["call_sid"], body["call_status"], body["call_duration"]) == (placed.twilio_sid, "completed", 42.0)


def test_a_dead_receiver_does_not_hold_up_the_end_of_a_call(
        client, fake_twilio, placed, endpoint, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT = 3600  # were the request to send, it would hang for an hour
    receiver.answers = [Answer(hang=True)]
    with django_capture_on_commit_callbacks(execute=True):
        response = fake_twilio.status_callback(placed.twilio_sid, "no-answer").post(client)
    assert response.status_code == 200 and Call.objects.get(pk=placed.pk).status == CallStatus.NO_ANSWER
    assert receiver.received == [] and len(queued_deliveries()) == 1


def test_call_processed_carries_the_transcript_and_extracted_data(
        openai_fake, make_call, endpoint, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    call = make_call()
    with django_capture_on_commit_callbacks(execute=True):
        assert process_call(call.pk) == "done"
    [delivery] = Delivery.objects.filter(event=Event.CALL_PROCESSED)
    assert queued_deliveries() == [delivery.pk] and receiver.received == []
    send(delivery)
    body = receiver.received[0].json()
    call.refresh_from_db()
    assert receiver.received[0].verified and set(body) == ENVELOPE | CALL_KEYS
    assert body["event"] == "call.processed" and body["processing_status"] == "done"
    assert body["extracted_info"]["place"] == "Madrid" and body["extracted_info"] == call.extracted_data
    assert body["conversation"] and body["conversation"] == call.conversation
    assert body["call_sid"] == call.twilio_sid


def test_failed_processing_is_told_too_with_its_reason(
        openai_fake, make_call, endpoint, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    call = make_call(wav=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert process_call(call.pk) == "failed"
    send(Delivery.objects.get(event=Event.CALL_PROCESSED))
    body = receiver.received[0].json()
    assert body["processing_status"] == "failed" and body["extraction_error"]
    assert body["extracted_info"] == {}


def test_campaign_completed_is_sent_when_the_last_contact_is_done(endpoint, receiver):
    now = timezone.now()
    campaign = campaign_of(madrid_contacts(2), start=now)
    CampaignContact.objects.filter(campaign=campaign).update(state=ContactState.DONE)
    assert campaign_complete_if_settled(campaign_id=campaign.pk, now=now)
    assert not campaign_complete_if_settled(campaign_id=campaign.pk, now=now)  # once
    [delivery] = Delivery.objects.all()
    assert (delivery.event, delivery.campaign_id) == (Event.CAMPAIGN_COMPLETED, campaign.pk)
    send(delivery)
    body = receiver.received[0].json()
    assert receiver.received[0].verified and set(body) == ENVELOPE | {"campaign"}
    assert (body["campaign"]["id"], body["campaign"]["name"]) == (campaign.pk, campaign.name)
    assert body["campaign"]["state"] == CampaignState.COMPLETED and body["campaign"]["progress"]["done"] == 2
    assert Campaign.objects.get(pk=campaign.pk).state == CampaignState.COMPLETED


def test_a_campaign_with_contacts_left_sends_nothing(endpoint):
    now = timezone.now()
    campaign = campaign_of(madrid_contacts(2), start=now)
    assert not campaign_complete_if_settled(campaign_id=campaign.pk, now=now)
    assert not Delivery.objects.exists()


def test_a_rolled_back_change_writes_and_queues_nothing(endpoint, django_capture_on_commit_callbacks):
    call = CallFactory(status=CallStatus.COMPLETED)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        with transaction.atomic():
            call_final.send(sender=Call, call=call)
            assert Delivery.objects.count() == 1
            raise RuntimeError("the state change failed")
    assert not Delivery.objects.exists() and callbacks == []


def test_only_active_endpoints_subscribed_to_the_event_get_it(endpoint, django_capture_on_commit_callbacks):
    processed_only = Endpoint.objects.create(url="https://a.example/", events=[Event.CALL_PROCESSED])
    Endpoint.objects.create(url="https://b.example/", events=[Event.CALL_COMPLETED], active=False)
    also = Endpoint.objects.create(url="https://c.example/", events=[Event.CALL_COMPLETED, Event.CAMPAIGN_COMPLETED])
    with django_capture_on_commit_callbacks() as callbacks:
        call_final.send(sender=Call, call=CallFactory(status=CallStatus.BUSY))
    deliveries = Delivery.objects.order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [endpoint.pk, also.pk] and len(callbacks) == 2
    assert len({d.event_id for d in deliveries}) == 1 and len({d.body for d in deliveries}) == 1
    assert not Delivery.objects.filter(endpoint=processed_only).exists()


def test_test_calls_are_never_told_to_integrators(endpoint, django_capture_on_commit_callbacks):
    Endpoint.objects.create(url="https://a.example/", events=[Event.CALL_PROCESSED])
    tried = CallFactory(status=CallStatus.COMPLETED, is_test=True)
    with django_capture_on_commit_callbacks() as callbacks:
        call_final.send(sender=Call, call=tried)
        call_processed.send(sender=Call, call=tried)
    assert not Delivery.objects.exists() and callbacks == []
    call_final.send(sender=Call, call=CallFactory(status=CallStatus.COMPLETED))  # the same call, not a test: told
    assert Delivery.objects.get().event == Event.CALL_COMPLETED


def test_no_endpoint_means_no_delivery(db):
    call_final.send(sender=Call, call=CallFactory(status=CallStatus.FAILED))
    assert not Delivery.objects.exists()


def test_the_body_carries_the_calls_cost_and_its_breakdown(db):
    call = CallFactory(status=CallStatus.COMPLETED, cost_total=Decimal("0.0421"),
                       cost={"total": 0.0421, "currency": "USD"})
    body = json.loads(json.dumps(call_payload(call=call), default=str))
    assert body["cost"] == "0.042100" and body["cost_breakdown"]["currency"] == "USD"
