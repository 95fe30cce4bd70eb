"""Single-use, expiring stream tokens."""
import hashlib
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from calls.exceptions import StreamTokenError
from calls.models import Call, CallStatus
from calls.services import stream_token_mint, stream_token_redeem
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def test_it_stores_only_the_hash():
    call = CallFactory()
    token = stream_token_mint(call=call)
    call.refresh_from_db()
    assert call.stream_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Call.objects.filter(pk=call.pk).values().get())


def test_it_redeems_a_token_once():
    call = CallFactory()
    token = stream_token_mint(call=call)
    assert stream_token_redeem(token=token).pk == call.pk
    with pytest.raises(StreamTokenError, match="already used"):
        stream_token_redeem(token=token)


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_it_refuses_missing_and_forged_tokens(token):
    stream_token_mint(call=CallFactory())
    with pytest.raises(StreamTokenError):
        stream_token_redeem(token=token)


def test_it_refuses_an_expired_token(settings):
    settings.STREAM_TOKEN_TTL = 600
    call = CallFactory()
    token = stream_token_mint(call=call)
    Call.objects.filter(pk=call.pk).update(stream_token_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(StreamTokenError, match="expired"):
        stream_token_redeem(token=token)


def test_it_refuses_the_token_of_an_ended_call():
    call = CallFactory()
    token = stream_token_mint(call=call)
    Call.objects.filter(pk=call.pk).update(status=CallStatus.COMPLETED)
    with pytest.raises(StreamTokenError, match="ended"):
        stream_token_redeem(token=token)


def test_a_new_token_replaces_the_old_one():
    call = CallFactory()
    old = stream_token_mint(call=call)
    new = stream_token_mint(call=call)
    with pytest.raises(StreamTokenError):
        stream_token_redeem(token=old)
    assert stream_token_redeem(token=new).pk == call.pk


@pytest.mark.django_db(transaction=True)
def test_only_one_of_racing_redeemers_wins():
    token = stream_token_mint(call=CallFactory())
    results: list[str] = []
    barrier = threading.Barrier(4)

    def redeem() -> None:
        barrier.wait()
        try:
            for _ in range(50):
                try:
                    stream_token_redeem(token=token)
                    results.append("won")
                    return
                except StreamTokenError:
                    results.append("lost")
                    return
                except OperationalError:
                    # The test database is shared-cache in-memory SQLite, whose table locks fail at once instead of
                    # waiting: retry, as the busy timeout does on the real database.
                    time.sleep(0.01)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["lost", "lost", "lost", "won"]
