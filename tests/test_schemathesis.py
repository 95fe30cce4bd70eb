"""Property-based API testing: schemathesis reads our OpenAPI schema from `/api/schema/` (as a staff integrator
would, with a token) and throws generated requests at every operation. Whatever it sends, the API answers with a
client error at worst, never a server error (5xx).

In-process through Django's WSGI handler, so each request sees the test's database; calls are placed for real
against the fake Twilio server. (`/make_call`, the prototype's blocking door, is not in the schema: its own tests
cover it.) Hypothesis runs derandomized with a bounded number of examples per operation and no example database.
"""
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from tests.factories import CallFactory, ContactFactory

# Random text is almost never a callable number or a stored call's SID, so on their own the generated requests
# would stop at validation (400/404). Half of them get a known one instead, to reach the paths that write.
NUMBERS = ["+34600111001", "+34600111002", "+34600111003", "+34600111004", "600 111 005", "0034600111006"]
SIDS = [f"CA{number[1:]:0>32}" for number in NUMBERS[:3]]
KNOWN = {"phone_number": NUMBERS, "sid": SIDS, "call_sid": SIDS}

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def staff_token(db, staff_user) -> str:
    return Token.objects.create(user=staff_user).key


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, keeping the test's database connection as Django's own test client does.

    A real server closes the connection around each request; here it holds the test's open transaction
    (PostgreSQL would then answer "the connection is closed" to the next query).
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(settings, staff_token, fake_twilio, wsgi_app):
    settings.MAKE_CALL_TIMEOUT = 1
    for number, sid in zip(NUMBERS, SIDS):
        CallFactory(contact=ContactFactory(phone_number=number), twilio_sid=sid)
    loaded = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", wsgi_app, headers={"Authorization": f"Token {staff_token}"}
    )
    for hook in (flatmap_path_parameters, flatmap_body):
        loaded.hook(hook)
    return loaded


def _steer(values):
    if not isinstance(values, dict) or not KNOWN.keys() & values.keys():
        return st.just(values)
    known = st.fixed_dictionaries({key: st.sampled_from(KNOWN[key]) for key in KNOWN.keys() & values.keys()})
    return st.one_of(st.just(values), known.map(lambda chosen: {**values, **chosen}))


def flatmap_path_parameters(context, path_parameters):
    return _steer(path_parameters)


def flatmap_body(context, body):
    return _steer(body)


@schema.parametrize()
@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case, staff_token):
    case.call_and_validate(headers={"Authorization": f"Token {staff_token}"}, checks=[not_a_server_error])
