"""Shared fixtures: fast hashing, a private media root, django-q2 inline, staff and non-staff clients."""
import pytest
from django_q.conf import Conf
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}


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
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        yield fake
