"""The JSON bodies of the events: an envelope (event, event_id, created_at) around the prototype's call record
(calls.api.serializers: the API's own shape, not a copy of it) or the campaign as the API shows it."""
import json
import uuid
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder

from calls.api.serializers import CallRecordSerializer
from calls.models import Call
from campaigns.models import Campaign
from campaigns.serializers import CampaignDetailSerializer
from extraction.services import ProcessingRecord
from webhooks.models import Event


def call_payload(*, call: Call) -> dict:
    """The call record keys (its cost and cost_breakdown among them) plus its campaign and the state of its
    processing."""
    record = dict(CallRecordSerializer(call).data)
    record.update(campaign_id=call.campaign_id, processing_status=ProcessingRecord.from_stored(call.processing).status)
    return record


def campaign_payload(*, campaign: Campaign) -> dict:
    return {"campaign": dict(CampaignDetailSerializer(campaign).data)}


def test_payload(*, endpoint_description: str) -> dict:
    return {"message": "A test event sent from the admin.", "endpoint": endpoint_description}


def body_encode(*, event: str | Event, event_id: uuid.UUID, created_at: datetime, payload: dict) -> str:
    envelope = {"event": str(event), "event_id": str(event_id), "created_at": created_at.isoformat(), **payload}
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
