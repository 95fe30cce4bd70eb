"""Real concurrency on PostgreSQL (`make test-scale`): threads with connections of their own claim and place at the
same instant, and the database's locks keep every limit. (SQLite's in-memory test database is one connection's:
there the interleavings are covered step by step in test_interleavings.py.)"""
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from calls.exceptions import CallNotNow
from calls.models import Call
from calls.services import place_call
from campaigns.models import ContactState
from campaigns.scheduler import campaign_claim
from tests.campaigns.helpers import campaign_of, madrid_contacts

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a database with row locks (PostgreSQL)"),
]
THREADS = 6


def _at_once(work) -> list:
    """Run `work(index)` in THREADS threads released together; their results (or exceptions)."""
    barrier, results = threading.Barrier(THREADS), [None] * THREADS

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001  (the test inspects it)
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_schedulers_claiming_at_once_never_exceed_the_in_flight_cap(settings):
    settings.CALLS_PER_SECOND = 1000
    campaign = campaign_of(madrid_contacts(30), max_in_flight=4, calls_per_second=1000, start=timezone.now())
    now = timezone.now()
    for _ in range(3):
        claims = _at_once(lambda _: campaign_claim(campaign_id=campaign.pk, now=now))
        assert not [c for c in claims if isinstance(c, Exception)], claims
    assert campaign.entries.filter(state=ContactState.DIALING).count() == 4


def test_two_doors_placing_one_number_at_once_dial_it_once(fake_twilio):
    contact = madrid_contacts(1)[0]
    results = _at_once(lambda _: place_call(contact=contact))
    assert sum(isinstance(r, Call) for r in results) == 1
    assert all(isinstance(r, CallNotNow) for r in results if not isinstance(r, Call))
    assert len(fake_twilio.calls) == 1


def test_max_concurrent_calls_holds_when_doors_race(settings, fake_twilio):
    settings.MAX_CONCURRENT_CALLS = 2
    contacts = madrid_contacts(THREADS)
    results = _at_once(lambda index: place_call(contact=contacts[index]))
    assert sum(isinstance(r, Call) for r in results) == 2 and len(fake_twilio.calls) == 2
