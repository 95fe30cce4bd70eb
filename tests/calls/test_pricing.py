"""The price table and its overrides, and what a call costs when a part is missing or has no price."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from calls.models import Call
from calls.pricing import DEFAULT_PRICES, call_cost, call_cost_update, price_table
from calls.review.display import cost_table
from tests.factories import CallFactory

REALTIME_USAGE = {"model": "gpt-realtime", "total_tokens": 3_000_000,
                  "input_token_details": {"text_tokens": 1_000_000, "audio_tokens": 1_000_000},
                  "output_token_details": {"audio_tokens": 1_000_000}}


def test_the_defaults_are_dated_list_prices():
    assert DEFAULT_PRICES["date"] and DEFAULT_PRICES["currency"] == "USD"
    assert price_table()["realtime"]["gpt-realtime"]["audio_output"] == 64.00


def test_prices_json_overrides_one_model_and_keeps_the_others(settings):
    settings.PRICES = json.dumps({"currency": "EUR", "realtime": {"gpt-realtime": {
        "text_input": 1, "audio_input": 2, "audio_output": 3}}})

    cost = call_cost(token_usage=REALTIME_USAGE, processing={}, duration=None)

    assert cost.parts["realtime"]["amount"] == "6.000000" and cost.currency == "EUR"  # 1 + 2 + 3 per million
    assert price_table()["realtime"]["gpt-realtime-mini"] == DEFAULT_PRICES["realtime"]["gpt-realtime-mini"]


def test_a_prices_file_is_read_and_prices_override_it(settings, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"twilio": {"voice_minute": 0.05, "stream_minute": 0}}), encoding="utf-8")
    settings.PRICES_FILE = str(path)
    assert call_cost(token_usage={}, processing={}, duration=30).parts["twilio"]["amount"] == "0.050000"

    settings.PRICES = json.dumps({"twilio": {"stream_minute": 0.01}})
    assert call_cost(token_usage={}, processing={}, duration=30).parts["twilio"]["amount"] == "0.060000"


@pytest.mark.parametrize("prices, message", [
    ("{not json", "PRICES is not valid JSON"),
    ("[1, 2]", "PRICES must be a JSON object"),
    ('{"text": {"gpt-4o-mini": {"input": "cheap"}}}', '"text" must map names to'),
    ('{"twilio": {"voice_minute": -1}}', '"twilio" must map names to'),
])
def test_a_bad_price_table_is_a_clear_error(settings, prices, message):
    settings.PRICES = prices
    with pytest.raises(ImproperlyConfigured, match=message):
        price_table()


def test_a_missing_prices_file_is_a_clear_error(settings, tmp_path):
    settings.PRICES_FILE = str(tmp_path / "nowhere.json")
    with pytest.raises(ImproperlyConfigured, match="PRICES_FILE .* cannot be read"):
        price_table()


def test_a_bad_price_table_is_reported_by_the_system_check(settings):
    from calls.checks import prices_check
    settings.PRICES = "{not json"
    (error,) = prices_check(None)
    assert error.id == "calls.E010" and "not valid JSON" in error.msg


def test_an_unanswered_call_costs_nothing():
    cost = call_cost(token_usage={}, processing={}, duration=0)
    assert cost.parts == {} and cost.total == 0


@pytest.mark.django_db
def test_a_model_without_a_price_is_named_and_costs_nothing(caplog):
    steps = {"extract": {"status": "done", "usage": {"my-own-model": {"input": 10, "output": 5}}}}
    call = CallFactory(token_usage={**REALTIME_USAGE, "model": "gpt-realtime-unknown"},
                       processing={"steps": steps}, duration=10)

    call_cost_update(call_id=call.pk)

    call = Call.objects.get(pk=call.pk)
    assert call.cost["unpriced"] == ["realtime model gpt-realtime-unknown", "extraction model my-own-model"]
    assert call.cost_total == Decimal("0.018")  # the phone line alone
    assert "my-own-model" in caplog.text and call.twilio_sid in caplog.text
    assert "No price for" in cost_table(call.cost) and "add it to PRICES" in cost_table(call.cost)


@pytest.mark.parametrize("stored", [None, "text", 3, ["a"], {"parts": "x"}])
def test_a_cost_of_another_shape_shows_as_nothing(stored):
    assert cost_table(stored) == "–"


@pytest.mark.django_db
def test_a_bad_price_table_never_loses_a_status_callback(settings, caplog):
    from calls.services import call_update_status
    settings.PRICES = "{not json"
    call = CallFactory(status="in-progress")

    call_update_status(call_sid=call.twilio_sid, status="completed", sequence_number=2, duration=30)

    call = Call.objects.get(pk=call.pk)
    assert call.status == "completed" and call.duration == 30 and call.cost_total is None
    assert f"Call sid={call.twilio_sid} not priced: PRICES is not valid JSON" in caplog.text
