"""/api/users and /api/users/{phone_number}: the prototype's user routes, through DRF's client."""
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from calls.models import Call
from contacts.models import Contact
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db

USER_KEYS = {"phone_number", "name", "comments", "created_at", "updated_at", "last_called_at", "call_history"}


def test_it_lists_users_newest_first_with_their_call_history(api):
    older = ContactFactory(phone_number="+34600000001")
    Contact.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))
    newer = ContactFactory(phone_number="+34600000002")
    first_call = CallFactory(contact=newer, status="completed", duration=12.5)
    second_call = CallFactory(contact=newer)
    Call.objects.filter(pk=first_call.pk).update(created_at=timezone.now() - timedelta(hours=1))

    response = api.get("/api/users")

    assert response.status_code == 200
    assert [user["phone_number"] for user in response.json()] == ["+34600000002", "+34600000001"]
    user = response.json()[0]
    assert USER_KEYS <= set(user)
    assert [call["call_sid"] for call in user["call_history"]] == [second_call.twilio_sid, first_call.twilio_sid]
    assert user["call_history"][1]["call_duration"] == 12.5
    assert user["call_history"][1]["call_status"] == "completed"


def test_it_lists_users_in_a_constant_number_of_queries(api, django_assert_max_num_queries):
    for contact in ContactFactory.create_batch(15):
        CallFactory.create_batch(2, contact=contact)
    # Session/user lookups are not made with force_authenticate, and a first request loads the user's permissions
    # (kept on the user, as for any request): then 2 queries = contacts + their calls.
    api.get("/api/users")
    with django_assert_max_num_queries(2):
        response = api.get("/api/users")
    assert len(response.json()) == 15


def test_it_creates_a_user_with_the_number_normalised(api):
    body = {"phone_number": "600 123 456", "name": "Ana", "comments": "mañanas"}
    response = api.post("/api/users", body, format="json")

    assert response.status_code == 201
    assert response.json()["phone_number"] == "+34600123456"
    assert response.json()["call_history"] == []
    contact = Contact.objects.get()
    assert (contact.phone_number, contact.name, contact.comments) == ("+34600123456", "Ana", "mañanas")


def test_it_creates_a_user_from_the_number_alone(api):
    response = api.post("/api/users", {"phone_number": "0034600123456"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == ""


@pytest.mark.parametrize("number, reason", [("12", "too short"), ("hello", "only digits"), ("", "missing")])
def test_it_refuses_an_invalid_number_with_the_reason(api, number, reason):
    response = api.post("/api/users", {"phone_number": number, "name": "Ana"}, format="json")

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert not Contact.objects.exists()


def test_it_refuses_a_missing_number_with_a_detail(api):
    response = api.post("/api/users", {"name": "Ana"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "phone_number: This field is required."}


def test_it_refuses_a_duplicate_number_written_another_way(api):
    ContactFactory(phone_number="+34600123456")
    response = api.post("/api/users", {"phone_number": "600-123-456"}, format="json")

    assert response.status_code == 400
    assert "already exists" in response.json()["detail"]
    assert Contact.objects.count() == 1


@pytest.mark.parametrize("path_number", ["600 123 456", "0034600123456", "+34600123456", "34600123456"])
def test_it_finds_a_user_by_any_form_of_the_number(api, path_number):
    ContactFactory(phone_number="+34600123456", name="Ana")
    response = api.get(f"/api/users/{path_number}")
    assert response.status_code == 200
    assert response.json()["name"] == "Ana"


def test_it_answers_404_for_an_unknown_user(api):
    response = api.get("/api/users/+34600999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


def test_it_answers_400_for_a_path_that_is_not_a_number(api):
    response = api.get("/api/users/not-a-phone")
    assert response.status_code == 400
    assert "not a valid phone number" in response.json()["detail"]


def test_it_accepts_a_trailing_slash(api):
    ContactFactory(phone_number="+34600123456")
    assert api.get("/api/users/").status_code == 200
    assert api.get("/api/users/+34600123456/").status_code == 200


def test_it_updates_name_and_comments_and_ignores_other_keys(api):
    contact = ContactFactory(phone_number="+34600123456", name="Ana", comments="")
    body = {"name": "Ana María", "comments": "prefers mornings", "phone_number": "+34911111111", "hacker": 1}

    response = api.put("/api/users/600123456", body, format="json")

    assert response.status_code == 200
    assert response.json()["phone_number"] == "+34600123456"
    assert response.json()["name"] == "Ana María"
    assert "hacker" not in response.json()
    contact.refresh_from_db()
    assert (contact.phone_number, contact.name, contact.comments) == ("+34600123456", "Ana María", "prefers mornings")


def test_it_updates_only_the_keys_given(api):
    contact = ContactFactory(phone_number="+34600123456", name="Ana", comments="keep me")
    response = api.put("/api/users/+34600123456", {"comments": "new"}, format="json")
    assert response.json()["name"] == "Ana"
    contact.refresh_from_db()
    assert (contact.name, contact.comments) == ("Ana", "new")


def test_it_sets_do_not_call(api):
    contact = ContactFactory(phone_number="+34600123456")
    response = api.put("/api/users/+34600123456", {"do_not_call": True}, format="json")
    assert response.json()["do_not_call"] is True
    contact.refresh_from_db()
    assert contact.do_not_call


def test_it_refuses_to_update_an_unknown_user(api):
    response = api.put("/api/users/+34600999999", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


def test_it_refuses_a_name_that_is_too_long(api):
    ContactFactory(phone_number="+34600123456", name="Ana")
    response = api.put("/api/users/+34600123456", {"name": "x" * 201}, format="json")
    assert response.status_code == 400
    assert "200 characters" in response.json()["detail"]
    assert Contact.objects.get().name == "Ana"


def test_it_deletes_a_user_with_their_calls_and_recordings(api, settings, django_capture_on_commit_callbacks):
    contact = ContactFactory(phone_number="+34600123456")
    call = CallFactory(contact=contact)
    call.recording.save("call.wav", ContentFile(b"RIFF...."), save=True)
    recording_path = call.recording.path
    other_call = CallFactory()
    other_call.recording.save("other.wav", ContentFile(b"RIFF...."), save=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete("/api/users/600 123 456")

    assert response.status_code == 200
    assert response.json() == {"message": "User and associated audio files deleted successfully"}
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not Call.objects.filter(pk=call.pk).exists()
    assert not _exists(recording_path)
    assert _exists(other_call.recording.path)


def test_it_refuses_to_delete_an_unknown_user(api):
    response = api.delete("/api/users/+34600999999")
    assert response.status_code == 404


@pytest.mark.parametrize("method, path", [
    ("get", "/api/users"), ("post", "/api/users"), ("get", "/api/users/+34600123456"),
    ("put", "/api/users/+34600123456"), ("delete", "/api/users/+34600123456"), ("post", "/api/users/import"),
    ("get", "/api/users/export"),
])
def test_it_refuses_non_staff_and_anonymous_users(plain_user, method, path):
    ContactFactory(phone_number="+34600123456")
    anonymous = APIClient()
    assert getattr(anonymous, method)(path).status_code in (401, 403)
    logged = APIClient()
    logged.force_authenticate(plain_user)
    assert getattr(logged, method)(path).status_code == 403
    assert Contact.objects.count() == 1


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()
