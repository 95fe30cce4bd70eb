"""Guessing passwords or tokens is cut short: failed logins are limited per account and per client address.

Through the doors: the admin's login form (which says how long to wait), the API's token check (429 with
Retry-After) and the API's anonymous rate, applied before the permission check refuses the request. The counts
live where every process sees them: two real Daphne processes on one deployment prove it, on SQLite (the database
cache) and, in `make test-scale`, on PostgreSQL + Redis (the Redis cache).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.test import Client
from django.utils import timezone, translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.processes import ROOT, Stack

ADMIN_LOGIN = "/admin/login/"
API_URL = "/api/call_histories"
LOCKED = "Too many failed login attempts. Try again in {} minutes."


def admin_login(username: str, password: str, *, address: str = "127.0.0.1", **headers):
    """One login attempt on the admin's form, from a new browser; the response (302 = logged in)."""
    return Client().post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"},
                         REMOTE_ADDR=address, **headers)


def wrong_passwords(*requests: dict) -> None:
    """One failed admin login per item, each for another account (user0, user1, ...), with the item's request
    values (address, headers)."""
    for n, values in enumerate(requests):
        assert admin_login(f"user{n}", "guess", **values).status_code == 200


def page(response) -> str:
    return response.content.decode()


def api_get(token: str, *, address: str = "127.0.0.1"):
    return APIClient(HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=address).get(API_URL)


@pytest.fixture
def later(monkeypatch):
    """Move the clock forward by some seconds (for the failures already counted, time passes)."""
    def advance(seconds: int) -> None:
        moved = timezone.now() + timedelta(seconds=seconds)
        monkeypatch.setattr(timezone, "now", lambda: moved)

    return advance


@pytest.mark.django_db
def test_admin_login_locks_an_account_after_its_limit_of_wrong_passwords(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    # From a different address each time: it is the account that is counted.
    wrong = [admin_login("alice", f"guess-{n}", address=f"10.0.0.{n}") for n in range(3)]

    refused = admin_login("alice", "pw-alice", address="10.0.1.1")

    assert [response.status_code for response in wrong] == [200, 200, 200]
    assert not any("Too many" in page(response) for response in wrong)
    assert refused.status_code == 200, "the right password is refused too while the account is locked"
    assert LOCKED.format(15) in page(refused)
    assert admin_login("bob", "pw-bob", address="10.0.1.1").status_code == 200  # another account is not locked
    assert LOCKED.format(15) not in page(admin_login("root", "wrong", address="10.0.1.1"))


@pytest.mark.django_db
def test_the_account_unlocks_when_its_failures_leave_the_window(staff_user, settings, later):
    settings.LOGIN_FAILURE_LIMIT = 3
    for n in range(3):
        admin_login("alice", f"guess-{n}")

    later(600)
    still_locked = admin_login("alice", "pw-alice")
    later(901)
    unlocked = admin_login("alice", "pw-alice")

    assert LOCKED.format(5) in page(still_locked)
    assert unlocked.status_code == 302


@pytest.mark.django_db
def test_a_successful_login_clears_the_accounts_count(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    before = [admin_login("alice", f"guess-{n}").status_code for n in range(2)]
    success = admin_login("alice", "pw-alice")
    after = [admin_login("alice", f"guess-{n}").status_code for n in range(2)]

    assert before == after == [200, 200]
    assert success.status_code == 302
    assert admin_login("alice", "pw-alice").status_code == 302, "4 failures, but only 2 since the last login"


@pytest.mark.django_db
def test_a_superuser_sees_the_failures_and_unlocks_an_account_by_deleting_them(admin_client_logged, staff_user,
                                                                                 settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    wrong_passwords({"address": "10.0.0.8"})
    for n in range(2):
        admin_login("alice", f"guess-{n}", address="10.0.0.7")
    changelist = "/admin/voicebot_site/loginfailure/"

    listed = admin_client_logged.get(changelist, {"q": "alice"})
    ids = [str(pk) for pk in listed.context["cl"].result_list.values_list("pk", flat=True)]
    deleted = admin_client_logged.post(changelist, {"action": "delete_selected", "_selected_action": ids,
                                                    "post": "yes"})

    assert listed.status_code == 200 and len(ids) == 2 and "10.0.0.7" in page(listed)
    assert deleted.status_code == 302
    assert admin_login("alice", "pw-alice", address="10.0.0.7").status_code == 302
    assert "10.0.0.8" in page(admin_client_logged.get(changelist)), "the other account's failure stays"


@pytest.mark.django_db
def test_an_address_is_locked_after_its_limit_of_failures_across_accounts(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    wrong_passwords(*[{"address": "10.0.0.9"}] * 4)

    from_there = admin_login("alice", "pw-alice", address="10.0.0.9")
    from_elsewhere = admin_login("alice", "pw-alice", address="10.0.0.10")

    assert LOCKED.format(15) in page(from_there)
    assert from_elsewhere.status_code == 302


@pytest.mark.django_db
def test_a_client_cannot_pick_its_address_with_x_forwarded_for(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 2
    wrong_passwords({"HTTP_X_FORWARDED_FOR": "198.51.100.1"}, {"HTTP_X_FORWARDED_FOR": "198.51.100.2"})

    assert LOCKED.format(15) in page(admin_login("alice", "pw-alice", HTTP_X_FORWARDED_FOR="198.51.100.7"))


@pytest.mark.django_db
def test_behind_a_proxy_the_address_is_the_last_one_it_appended(staff_user, settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 2
    # REMOTE_ADDR is the proxy for everyone; what a client wrote before the proxy's own entry does not count.
    wrong_passwords(*({"HTTP_X_FORWARDED_FOR": f"198.51.100.{n}, 203.0.113.5"} for n in range(2)))

    assert LOCKED.format(15) in page(admin_login("alice", "pw-alice", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5"))
    assert admin_login("alice", "pw-alice", HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 302


@pytest.mark.django_db
def test_wrong_api_tokens_lock_the_address_with_429_and_retry_after(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 3
    token = Token.objects.create(user=staff_user).key

    wrong = [api_get(f"guess{n}").status_code for n in range(3)]
    locked = api_get(token)
    elsewhere = api_get(token, address="10.0.0.2")

    assert wrong == [401, 401, 401]
    assert locked.status_code == 429, "a locked address is refused before its token is looked at"
    assert 890 <= int(locked["Retry-After"]) <= 900
    assert "Too many failed login attempts" in locked.json()["detail"]
    assert elsewhere.status_code == 200


@pytest.mark.django_db
def test_make_call_refuses_a_locked_address_the_same_way(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 1
    token = Token.objects.create(user=staff_user).key
    api_get("guess")

    response = APIClient(HTTP_AUTHORIZATION=f"Token {token}").post("/make_call", {}, format="json")

    assert response.status_code == 429
    assert 890 <= int(response["Retry-After"]) <= 900


@pytest.mark.django_db
def test_wrong_admin_passwords_lock_the_address_out_of_the_api_too(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 2
    token = Token.objects.create(user=staff_user).key
    wrong_passwords(*[{"address": "10.0.0.3"}] * 2)

    assert api_get(token, address="10.0.0.3").status_code == 429


@pytest.mark.django_db
def test_anonymous_requests_are_throttled_before_the_permission_check(monkeypatch):
    # DRF reads the rates at import time: patch the class, as tests/test_security.py does.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "1000/minute"})
    anonymous = APIClient(REMOTE_ADDR="10.0.0.4")

    statuses = [anonymous.get(API_URL).status_code for _ in range(3)]
    throttled = anonymous.get(API_URL)

    assert statuses == [401, 401, 429]
    assert 50 <= int(throttled["Retry-After"]) <= 60
    assert APIClient(REMOTE_ADDR="10.0.0.5").get(API_URL).status_code == 401


@pytest.mark.parametrize("redis_url, backend, location", [
    ("", "django.core.cache.backends.filebased.FileBasedCache", "/srv/voicebot/cache"),
    ("redis://127.0.0.1:6379/0", "django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:6379/0"),
])
def test_the_cache_is_one_every_process_shares(redis_url, backend, location):
    script = "import json, runpy; print(json.dumps(runpy.run_path('voicebot_site/settings.py')['CACHES']))"
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_PREFIX": "deployment-a", "CACHE_DIR": "/srv/voicebot/cache"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    cache = json.loads(result.stdout)["default"]

    assert (cache["BACKEND"], cache["LOCATION"]) == (backend, location)
    if redis_url:
        assert cache["KEY_PREFIX"] == "deployment-a:cache"  # another deployment on this Redis has its own keys


@pytest.fixture
def deployment(tmp_path):
    stack = Stack(tmp_path, extra_env={"LOGIN_FAILURE_LIMIT_PER_ADDRESS": "3", "API_THROTTLE_ANON": "3/minute"})
    try:
        stack.prepare()
        yield stack
    finally:
        stack.stop_all()


def _get(port: int, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return requests.get(f"http://127.0.0.1:{port}{API_URL}", headers=headers, timeout=30)


def _admin_login(port: int, username: str, password: str) -> requests.Response:
    browser = requests.Session()
    form = browser.get(f"http://127.0.0.1:{port}{ADMIN_LOGIN}", timeout=30).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
    return browser.post(f"http://127.0.0.1:{port}{ADMIN_LOGIN}", timeout=30, allow_redirects=False, data={
        "csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": "/admin/",
    })


def _cached(stack: Stack, key: str) -> bool:
    """Whether the deployment's shared cache holds `key`: in Redis when it has one, else in its CACHE_DIR."""
    if stack.env.get("REDIS_URL"):
        import redis

        client = redis.Redis.from_url(stack.env["REDIS_URL"])
        try:
            return bool(client.exists(f"{stack.env['REDIS_PREFIX']}:cache:1:{key}"))
        finally:
            client.close()
    # FileBasedCache's file name for a key (no prefix, version 1)
    return (Path(stack.env["CACHE_DIR"]) / (hashlib.md5(f":1:{key}".encode()).hexdigest() + ".djcache")).exists()


@pytest.mark.slow
def test_two_web_processes_share_the_counts(deployment):
    web_a, web_b = deployment.start_daphne(), deployment.start_daphne()

    anonymous = [_get(port).status_code for port in (web_a, web_b, web_a, web_b)]
    wrong_tokens = [_get(port, f"guess{n}").status_code for n, port in enumerate((web_a, web_b, web_a))]
    right_token = [_get(port, deployment.token).status_code for port in (web_a, web_b)]
    admin = _admin_login(web_b, "ops", "pw-ops")

    assert anonymous == [401, 401, 401, 429], "the anonymous rate (3/minute) is counted across both processes"
    assert wrong_tokens == [401, 401, 401]
    assert right_token == [429, 429], "3 failures over two processes lock the address in both"
    assert admin.status_code == 200 and LOCKED.format(15) in admin.text
    assert _cached(deployment, "throttle_unauthenticated_127.0.0.1")


@pytest.mark.django_db
def test_a_spanish_deployment_tells_a_locked_out_user_in_spanish(staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 1
    settings.LANGUAGE_CODE = "es"
    try:
        admin_login("alice", "guess", address="10.0.0.1")
        refused = page(admin_login("alice", "pw-alice", address="10.0.0.2"))
    finally:
        translation.deactivate()
    assert "Demasiados intentos de inicio de sesión fallidos. Vuelva a intentarlo dentro de 15 minutos." in refused
    assert "Too many" not in refused
