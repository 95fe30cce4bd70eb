"""README's verification recipe (executed as published) against what webhooks.signing puts in the header."""
import time

import pytest

from tests.fakes.webhook_receiver import readme_verify
from webhooks.signing import signature_header

BODY = b'{"event":"call.completed","call_sid":"CA1"}'
verify = readme_verify()


def test_the_recipe_accepts_a_signature_made_now():
    now = int(time.time())
    assert verify("s3cret", signature_header(secret="s3cret", timestamp=now, body=BODY), BODY)


@pytest.mark.parametrize("age, accepted", [(0, True), (299, True), (300, True), (301, False), (-301, False),
                                           (86400, False)])
def test_the_recipe_refuses_timestamps_outside_the_five_minute_replay_window(age, accepted):
    header = signature_header(secret="s3cret", timestamp=1_800_000_000, body=BODY)
    assert verify("s3cret", header, BODY, now=1_800_000_000 + age) is accepted


def test_the_recipe_refuses_another_body_secret_or_timestamp():
    header = signature_header(secret="s3cret", timestamp=1_800_000_000, body=BODY)
    now = 1_800_000_010
    assert not verify("s3cret", header, BODY + b" ", now=now)
    assert not verify("other", header, BODY, now=now)
    moved = header.replace("t=1800000000", "t=1800000005")  # a replay with a fresh timestamp and the old digest
    assert not verify("s3cret", moved, BODY, now=now)


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "v1=00", "t=1800000000"])
def test_the_recipe_refuses_malformed_headers(header):
    assert not verify("s3cret", header, BODY, now=1_800_000_000)


def test_the_header_is_stripe_shaped():
    header = signature_header(secret="s3cret", timestamp=1_800_000_000, body=BODY)
    timestamp, digest = header.split(",")
    assert timestamp == "t=1800000000" and digest.startswith("v1=") and len(digest) == 3 + 64
