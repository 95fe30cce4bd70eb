"""Shared fixtures: fast hashing, a private media root, django-q2 inline, staff (a Supervisor, or no role) and non-staff
clients."""
import importlib
import pkgutil

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


@pytest.fixture
def empty_cache(settings):
    """A function that empties the cache (the API's throttle histories) of this test run, and only this run's.

    In Redis (`make test-scale`) only the keys under this run's prefix go: cache.clear() would flush the whole Redis
    database, the queues and channel layers of the end-to-end tests' servers included.
    """
    from django.core.cache import cache

    configured = settings.CACHES["default"]
    if configured["BACKEND"].endswith("RedisCache"):
        from tests.processes import delete_redis_keys

        return lambda: delete_redis_keys(configured["LOCATION"], configured["KEY_PREFIX"])
    return cache.clear


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path, empty_cache):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WEBHOOK_SPOOL_DIR = str(tmp_path / "webhook_spool")
    # Views keep the throttle classes they were defined with, so throttling stays on; each test starts with an
    # empty throttle history instead (user ids repeat after every rollback and would share one).
    empty_cache()


@pytest.fixture
def ai_copy(settings, tmp_path):
    """A copy of AI/ (agent profiles included), used as AI_CONFIG_DIR: for tests that edit, break or add files."""
    import shutil

    from calls.agent_config import DEFAULT_AI_DIR

    target = tmp_path / "AI"
    shutil.copytree(DEFAULT_AI_DIR, target)
    settings.AI_CONFIG_DIR = str(target)
    return target


@pytest.fixture
def q_sync(monkeypatch):
    """Run django-q2 tasks inline (unit tests only; the end-to-end tests use a real qcluster)."""
    monkeypatch.setattr(Conf, "SYNC", True)


def role_group(name: str):
    """The roles migration's group `name` ("Agents", "Supervisors"), made again from that migration's list when a
    transactional test's flush has emptied the tables (the permissions come back on their own after a flush)."""
    from django.contrib.auth.models import Group, Permission

    import calls.migrations

    import campaigns.migrations
    import webhooks.migrations

    group, created = Group.objects.get_or_create(name=name)
    if created:
        module = next(info.name for info in pkgutil.iter_modules(calls.migrations.__path__)
                      if info.name.endswith("_roles_agents_and_supervisors"))
        codes = importlib.import_module(f"calls.migrations.{module}").ROLES[name]
        group.permissions.add(*(Permission.objects.get(content_type__app_label=code.split(".")[0],
                                                       codename=code.split(".")[1]) for code in codes))
        for app, migrations in (("campaigns", campaigns.migrations), ("webhooks", webhooks.migrations)):
            module = next(info.name for info in pkgutil.iter_modules(migrations.__path__)
                          if info.name.endswith(f"_{app.rstrip('s')}_roles"))
            codenames = importlib.import_module(f"{app}.migrations.{module}").ROLES[name]
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app, codename__in=codenames))
    return group


@pytest.fixture
def staff_user(django_user_model):
    """A Supervisor (the roles migration's group): staff who may do everything with contacts and calls."""
    user = django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice", is_staff=True)
    user.groups.add(role_group("Supervisors"))
    return user


@pytest.fixture
def staff_without_role(django_user_model):
    """Staff in no group and with no permission: a new staff account before anyone gives it a role."""
    return django_user_model.objects.create_user("carol", "carol@example.com", "pw-carol", is_staff=True)


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
    from simulator.twilio import FakeTwilio

    with FakeTwilio(public_base_url="https://voicebot.example") as fake:
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.PHONE_NUMBER_FROM = "+15005550006"
        settings.TWILIO_API_BASE_URL = fake.base_url
        settings.PUBLIC_BASE_URL = "https://voicebot.example"
        yield fake
