"""Webhooks never reach the deployment's own network (SSRF) unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES says so: the
address is refused when the endpoint is saved, and again by each delivery, on the address it actually connects to.
"""
import json
import socket
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_q.models import Schedule

from tests.webhooks.conftest import SECRET, send
from webhooks.models import Delivery, Endpoint, Event

pytestmark = pytest.mark.django_db

ENDPOINTS = "/admin/webhooks/endpoint/"
REFUSED_URLS = [
    "http://127.0.0.1:8000/hooks",
    "http://10.1.2.3/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8000/hooks",
    "http://localhost:8000/hooks",  # a name that resolves to 127.0.0.1
    "https://[fd00::1]/hooks",
    "http://0.0.0.0:8000/hooks",
    "http://224.0.0.1/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
]


@pytest.fixture
def private_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False


@pytest.fixture
def supervisor(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_an_endpoint_on_a_private_address_is_refused_in_the_admin_with_the_reason(private_refused, supervisor, url):
    response = supervisor.post(f"{ENDPOINTS}add/", {"url": url, "events": ["call.completed"], "active": "on",
                                                   "description": "", "secret": ""})

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["url"]
    assert error.startswith("Webhooks may not reach this address:")
    assert not Endpoint.objects.exists()


def test_the_refusal_names_the_address_a_name_resolves_to(private_refused):
    with pytest.raises(ValidationError) as caught:
        Endpoint(url="http://localhost:8000/hooks", events=[Event.CALL_COMPLETED]).full_clean()

    assert "localhost (127.0.0.1) is a loopback address" in caught.value.message_dict["url"][0]
    assert "WEBHOOK_ALLOW_PRIVATE_ADDRESSES" in caught.value.message_dict["url"][0]


def test_a_public_address_and_a_name_that_does_not_resolve_yet_are_accepted(private_refused):
    Endpoint(url="https://93.184.216.34/hooks", events=[Event.CALL_COMPLETED]).full_clean()
    Endpoint(url="https://crm.invalid/hooks", events=[Event.CALL_COMPLETED]).full_clean()  # checked when sent


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hooks", "http://10.1.2.3/hooks", "http://[::1]:8000/hooks",
                                 "http://localhost:8000/hooks", "https://[fd00::1]/hooks"])
def test_the_setting_admits_the_deployments_own_network(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True

    Endpoint(url=url, events=[Event.CALL_COMPLETED]).full_clean()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/hooks",
                                 "http://0.0.0.0:8000/hooks", "http://224.0.0.1/hooks"])
def test_the_setting_never_admits_link_local_unspecified_or_multicast(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True

    with pytest.raises(ValidationError) as caught:
        Endpoint(url=url, events=[Event.CALL_COMPLETED]).full_clean()
    assert "url" in caught.value.message_dict


def _endpoint_saved_earlier(url: str) -> Endpoint:
    """An endpoint stored without today's check (saved before it existed, or while its name resolved elsewhere)."""
    endpoint = Endpoint.objects.create(url="https://crm.example/hooks", events=[Event.CALL_COMPLETED], secret=SECRET)
    Endpoint.objects.filter(pk=endpoint.pk).update(url=url)
    return endpoint


def _delivery_to(endpoint: Endpoint) -> Delivery:
    return Delivery.objects.create(endpoint=endpoint, event=Event.CALL_COMPLETED,
                                   body=json.dumps({"event": "call.completed", "call_sid": "CA42"}))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_delivery_to_a_private_address_is_never_sent_and_given_up_at_once(receiver, settings, host):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # the receiver fixture allows it: this test takes it back
    endpoint = _endpoint_saved_earlier(receiver.url.replace("127.0.0.1", host))

    delivery = send(_delivery_to(endpoint))

    assert receiver.received == []
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.FAILED, 1, None)
    assert delivery.error.startswith("refused:") and "loopback address" in delivery.error
    assert delivery.next_attempt_at is None and not Schedule.objects.exists()


def test_a_delivery_to_cloud_metadata_is_refused_even_with_the_setting(receiver):
    endpoint = _endpoint_saved_earlier("http://169.254.169.254/latest/meta-data/")

    delivery = send(_delivery_to(endpoint))

    assert delivery.status == Delivery.Status.FAILED and "link-local" in delivery.error
    assert not Schedule.objects.exists()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A resolver for `rebind.example` whose first answer is the receiver's host and every later one the cloud
    metadata address (DNS rebinding); other names and literal addresses resolve as usual."""
    resolve, answers = socket.getaddrinfo, ["127.0.0.1"]

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return resolve(host, port, *args, **kwargs)
        address = answers.pop(0) if answers else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_delivery_connects_to_the_address_it_checked_with_the_urls_host(receiver, rebinding_dns):
    endpoint = _endpoint_saved_earlier(receiver.url.replace("127.0.0.1", "rebind.example"))

    delivery = send(_delivery_to(endpoint))  # one lookup: checked 127.0.0.1 and connected there, not to a 2nd answer

    assert delivery.status == Delivery.Status.DELIVERED, delivery.error
    [request] = receiver.received
    assert request.headers["Host"] == f"rebind.example:{urlsplit(receiver.url).port}"
    assert request.verified


def test_a_rebound_name_is_refused_on_the_next_delivery(receiver, rebinding_dns):
    endpoint = _endpoint_saved_earlier(receiver.url.replace("127.0.0.1", "rebind.example"))
    assert send(_delivery_to(endpoint)).status == Delivery.Status.DELIVERED

    delivery = send(_delivery_to(endpoint))

    assert delivery.status == Delivery.Status.FAILED and "rebind.example (169.254.169.254)" in delivery.error
    assert len(receiver.received) == 1
