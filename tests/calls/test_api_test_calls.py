"""Test calls ("Try this script") stay out of the API's lists unless `include_test=true` asks for them.

Through the real API with a token: /api/call_histories, its export, and the call_history of /api/users.
"""
import io

import pytest
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from calls.services.test_calls import call_test_start
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_api(staff_user) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")


@pytest.fixture
def calls():
    """A phone call and a test call on the same contact (a test call may use a real contact's values)."""
    contact = ContactFactory(phone_number="+34600123456")
    phone = CallFactory(contact=contact, status="completed")
    test, _token = call_test_start(user="alice", contact_id=contact.pk)
    return phone, test


def test_the_call_history_leaves_test_calls_out_by_default(token_api, calls):
    phone, _test = calls

    response = token_api.get("/api/call_histories")

    assert response.status_code == 200, response.content
    assert [record["call_sid"] for record in response.json()] == [phone.twilio_sid]


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_the_call_history_lists_test_calls_when_asked(token_api, calls, value):
    phone, _test = calls

    response = token_api.get("/api/call_histories", {"include_test": value})

    assert response.status_code == 200, response.content
    assert [record["call_sid"] for record in response.json()] == [None, phone.twilio_sid]  # a test call has no SID


def test_include_test_false_is_the_default(token_api, calls):
    phone, _test = calls

    response = token_api.get("/api/call_histories", {"include_test": "false"})

    assert [record["call_sid"] for record in response.json()] == [phone.twilio_sid]


def test_a_bad_include_test_value_is_a_clear_error(token_api, calls):
    response = token_api.get("/api/call_histories", {"include_test": "maybe"})

    assert response.status_code == 400
    assert "include_test" in response.json()["detail"] and "true or false" in response.json()["detail"]


def test_the_filters_still_apply_to_included_test_calls(token_api, calls):
    response = token_api.get("/api/call_histories", {"include_test": "true", "call_status": "in-progress"})

    assert [record["call_sid"] for record in response.json()] == [None]


def export_rows(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))[1:]


def test_the_export_by_filters_leaves_test_calls_out_unless_asked(token_api, calls):
    assert len(export_rows(token_api.post("/api/call_histories/export", {}, format="json"))) == 1
    assert len(export_rows(token_api.post("/api/call_histories/export?include_test=true", {}, format="json"))) == 2
    assert len(export_rows(token_api.post("/api/call_histories/export", {"include_test": True}, format="json"))) == 2


def test_the_users_call_history_leaves_test_calls_out_unless_asked(token_api, calls):
    phone, _test = calls

    listed = token_api.get("/api/users").json()
    one = token_api.get("/api/users/+34600123456").json()
    with_tests = token_api.get("/api/users/+34600123456", {"include_test": "true"}).json()
    listed_with_tests = token_api.get("/api/users", {"include_test": "true"}).json()

    contact = next(user for user in listed if user["phone_number"] == "+34600123456")
    assert [record["call_sid"] for record in contact["call_history"]] == [phone.twilio_sid]
    assert [record["call_sid"] for record in one["call_history"]] == [phone.twilio_sid]
    assert [record["call_sid"] for record in with_tests["call_history"]] == [None, phone.twilio_sid]
    contact = next(user for user in listed_with_tests if user["phone_number"] == "+34600123456")
    assert len(contact["call_history"]) == 2


def test_the_users_list_rejects_a_bad_include_test(token_api, calls):
    response = token_api.get("/api/users", {"include_test": "perhaps"})

    assert response.status_code == 400 and "include_test" in response.json()["detail"]


def test_the_schema_documents_the_opt_in(token_api):
    schema = token_api.get("/api/schema/", {"format": "json"}).json()
    paths = {path.rstrip("/"): item for path, item in schema["paths"].items()}

    for path in ("/api/call_histories", "/api/users", "/api/users/{phone_number}"):
        names = {parameter["name"]: parameter for parameter in paths[path]["get"]["parameters"]}
        assert names["include_test"]["schema"]["type"] == "boolean", path
        assert "test calls" in names["include_test"]["description"], path


def test_a_test_call_stays_reachable_by_its_id_in_the_admin(client, staff_user, calls):
    _phone, test = calls
    client.force_login(staff_user)

    response = client.get(f"/admin/calls/call/{test.pk}/change/")
    listed = client.get("/admin/calls/call/").context["cl"].result_list

    assert response.status_code == 200
    assert test in listed, "staff's list keeps test calls (badge Test, filter By test call)"
