"""HTTP tools (calls.http_tools) against a real local endpoint that checks the signature with README's recipe:
what is sent (body, context, headers from the environment, signature), what the model gets back, and a readable
error for every way it can fail (HTTP error, refused, timeout, not JSON, too big, no secret)."""
from __future__ import annotations

import json
import socket
import time

import pytest
from pydantic import ValidationError

from calls.http_tools import MAX_RESPONSE_BYTES, HttpEndpoint, http_tool_call, signature, tools_timeout_s
from calls.live.relay.tool_calls import TOOL_TIMEOUT_S
from tests.fakes.business import FakeBusiness, readme_recipe

SECRET = "s3cret-signing-key"
CONTEXT = {"sid": "CA" + "1" * 32, "contact_id": 7, "phone": "+34600111222", "campaign_id": None}


@pytest.fixture(autouse=True)
def crm_token(monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", "Bearer crm-123")


async def call(endpoint: HttpEndpoint, *, secret: str = SECRET, arguments: dict | None = None) -> dict:
    return await http_tool_call(endpoint, name="check_availability", arguments=arguments or {"date": "2026-12-01"},
                                context=CONTEXT, secret=secret, call_sid=CONTEXT["sid"])


def endpoint_of(business: FakeBusiness, **options) -> HttpEndpoint:
    return HttpEndpoint(url=business.url("/availability"), headers={"Authorization": "env:CRM_TOKEN"}, **options)


async def test_it_posts_the_arguments_and_the_calls_context_signed_and_returns_the_answer():
    async with FakeBusiness(secret=SECRET, answer={"free": ["martes 10:00"]}) as business:
        answer = await call(endpoint_of(business), arguments={"date": "2026-12-01"})

    assert answer == {"free": ["martes 10:00"]}
    [request] = business.requests
    assert (request.method, request.path) == ("POST", "/availability")
    assert request.json == {"tool": "check_availability", "arguments": {"date": "2026-12-01"}, "call": CONTEXT}
    assert request.headers["Authorization"] == "Bearer crm-123"  # read from the environment at call time
    assert request.headers["Content-Type"] == "application/json"
    assert abs(int(request.headers["X-Voicebot-Timestamp"]) - time.time()) < 60
    assert business.refused == []


async def test_the_receiver_refuses_a_body_changed_after_signing():
    valid = readme_recipe()
    body, stamp = b'{"tool": "x"}', str(int(time.time()))
    assert valid(SECRET, stamp, signature(SECRET, stamp, body), body)
    assert not valid(SECRET, stamp, signature(SECRET, stamp, body), b'{"tool": "y"}')
    assert not valid("another-secret", stamp, signature(SECRET, stamp, body), body)
    old = str(int(time.time()) - 3600)
    assert not valid(SECRET, old, signature(SECRET, old, body), body), "a replayed old request"


async def test_a_json_value_that_is_not_an_object_is_the_result():
    async with FakeBusiness(secret=SECRET, answer=["martes", "jueves"]) as business:
        assert await call(endpoint_of(business)) == {"result": ["martes", "jueves"]}


async def test_an_http_error_is_a_readable_error():
    async with FakeBusiness(secret=SECRET, status=500, answer={"detail": "db down"}) as business:
        answer = await call(endpoint_of(business))
    assert answer == {"error": "check_availability failed: its service answered HTTP 500."}


async def test_a_refusal_the_endpoint_explains_reaches_the_model():
    async with FakeBusiness(secret=SECRET, status=422, answer={"error": "No hay visitas ese día."}) as business:
        answer = await call(endpoint_of(business))
    assert answer == {"error": "check_availability failed: its service answered HTTP 422 (No hay visitas ese día.)."}


async def test_a_redirect_is_not_followed():
    async with FakeBusiness(secret=SECRET, status=302) as business:
        answer = await call(endpoint_of(business))
    assert answer == {"error": "check_availability failed: its service answered HTTP 302."}
    assert len(business.requests) == 1


async def test_a_refused_connection_is_a_readable_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = await call(HttpEndpoint(url=f"http://127.0.0.1:{port}/x"))
    assert answer == {"error": "check_availability could not reach its service; it was not done."}


async def test_a_slow_endpoint_is_cut_at_its_timeout():
    async with FakeBusiness(secret=SECRET, delay_s=5) as business:
        answer = await call(endpoint_of(business, timeout=0.2))
    assert answer == {"error": "check_availability did not answer within 0.2 s; it may not have been done."}


async def test_an_answer_that_is_not_json_is_a_readable_error():
    async with FakeBusiness(secret=SECRET, raw=b"<html>oops</html>") as business:
        answer = await call(endpoint_of(business))
    assert answer == {"error": "check_availability failed: its service answered something that is not JSON."}


async def test_an_answer_too_big_is_dropped():
    async with FakeBusiness(secret=SECRET, raw=json.dumps({"x": "a" * MAX_RESPONSE_BYTES}).encode()) as business:
        answer = await call(endpoint_of(business))
    assert "answered more than" in answer["error"]


async def test_without_a_signing_secret_nothing_is_sent():
    async with FakeBusiness(secret=SECRET) as business:
        answer = await call(endpoint_of(business), secret="")
    assert "not configured" in answer["error"]
    assert business.requests == business.refused == []


def test_headers_come_from_the_environment_and_a_missing_variable_fails_at_load(monkeypatch):
    with pytest.raises(ValidationError, match="must be env:NAME"):
        HttpEndpoint(url="https://crm.example.com/x", headers={"Authorization": "Bearer literal-secret"})
    monkeypatch.delenv("CRM_TOKEN")
    with pytest.raises(ValidationError, match="CRM_TOKEN is not set"):
        HttpEndpoint(url="https://crm.example.com/x", headers={"Authorization": "env:CRM_TOKEN"})


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://crm.example.com/x", "https://", "crm.example.com"])
def test_only_http_and_https_urls_are_accepted(url):
    with pytest.raises(ValidationError, match="http:// or https://"):
        HttpEndpoint(url=url)


def test_the_secret_of_a_header_is_never_kept_on_the_endpoint():
    endpoint = HttpEndpoint(url="https://crm.example.com/x", headers={"Authorization": "env:CRM_TOKEN"})
    assert "crm-123" not in repr(endpoint) and endpoint.header_values() == {"Authorization": "Bearer crm-123"}


def test_the_relays_bound_leaves_the_endpoints_own_timeout_to_answer():
    assert tools_timeout_s([]) == TOOL_TIMEOUT_S
    assert tools_timeout_s([HttpEndpoint(url="https://a.example/x", timeout=12)]) == 13
