"""Shared fixtures: fast hashing, a private media root, django-q2 inline, staff and non-staff clients."""
import pytest
from django_q.conf import Conf
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, whose PostgreSQL copy can be dropped at the end of the run.

    Async tests run their ORM calls in asgiref's worker threads, whose persistent connections (CONN_MAX_AGE) outlive
    the tests; PostgreSQL refuses to drop a database with open sessions, so they are ended first.
    """
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # Views keep the throttle classes they were defined with, so throttling stays on; each test starts with an
    # empty throttle history instead (user ids repeat after every rollback and would share one).
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def q_sync(monkeypatch):
    """Run django-q2 tasks inline (unit tests only; the end-to-end tests use a real qcluster)."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice", is_staff=True)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob")


@pytest.fixture
def api(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def admin_client_logged(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def fake_twilio(settings):
    """A fake Twilio REST server on a real socket, with our settings pointed at it."""
    from tests.fakes.twilio import FakeTwilio

    with FakeTwilio(public_base_url="https://voicebot.example") as fake:
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.PHONE_NUMBER_FROM = "+15005550006"
        settings.TWILIO_API_BASE_URL = fake.base_url
        settings.PUBLIC_BASE_URL = "https://voicebot.example"
        yield fake
