"""Cross-cutting guarantees: every route is closed to strangers, token auth, throttling, `check --deploy`.

The route test walks the project's URL resolver, so a route someone adds later is covered without editing this file.
"""
import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern
from django.utils.module_loading import import_string
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from voicebot_site import settings as site_settings

BASE_DIR = Path(__file__).resolve().parent.parent
EXCLUDED_PREFIXES = ("admin/", "static/", "media/")  # the admin guards itself (login redirect); assets are public
_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)")
SAMPLES = {"int": "1", "path": "2026/11/CA0.wav", "uuid": str(uuid.UUID(int=1)), "format": "json"}


def project_routes(patterns=None, prefix: str = "") -> list[tuple[str, object]]:
    """Every concrete route of the project as (sample URL, view), converters filled with sample values."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        piece = _sample_path(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += project_routes(pattern.url_patterns, prefix + piece)
        elif isinstance(pattern, URLPattern):
            routes.append(("/" + prefix + piece, pattern.callback))
    return [(url, view) for url, view in routes if not url.lstrip("/").startswith(EXCLUDED_PREFIXES)]


def _sample_path(pattern) -> str:
    text = str(pattern)
    if isinstance(pattern, RoutePattern):
        return _ROUTE_PARAM.sub(lambda m: SAMPLES.get(m["converter"] or "", _sample(m["name"])), text)
    text = _REGEX_GROUP.sub(lambda m: _sample(m["name"]), text)
    return re.sub(r"[\^$?\\]", "", text)


def _sample(name: str) -> str:
    return SAMPLES.get(name, "+34600000001")  # a valid E.164 number also passes as any str id


ROUTES = project_routes()


def test_the_walk_finds_the_prototype_routes():
    urls = {url.rstrip("/") for url, _ in ROUTES}
    assert {"/api/call_histories", "/api/call_histories/export", "/api/schema", "/api/docs", "/make_call"} <= urls
    assert any(url.startswith("/recordings/") for url in urls)
    assert len(urls) >= 8


@pytest.mark.parametrize("url, view", ROUTES, ids=[url for url, _ in ROUTES])
def test_each_sample_url_resolves_to_its_own_view(url, view):
    assert resolve(url).func == view


def answers(client, url: str) -> dict[str, int]:
    return {method: getattr(client, method)(url).status_code for method in ("get", "post", "put", "delete")}


def assert_closed(statuses: dict[str, int], allowed: set[int], url: str) -> None:
    # A method the route does not have may answer 405; every other answer must refuse, and at least one must.
    assert set(statuses.values()) <= allowed | {405}, f"{url} answered {statuses}"
    assert set(statuses.values()) & allowed, f"{url} answered {statuses}"


@pytest.mark.django_db
@pytest.mark.parametrize("url", [url for url, _ in ROUTES])
def test_every_route_refuses_anonymous_requests(client, url):
    assert_closed(answers(client, url), {401, 403}, url)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [url for url, _ in ROUTES])
def test_every_route_refuses_a_logged_in_non_staff_user(client, plain_user, url):
    client.force_login(plain_user)
    assert_closed(answers(client, url), {403}, url)


@pytest.mark.django_db
def test_token_auth_works_with_a_token_from_drf_create_token(staff_user, capsys):
    call_command("drf_create_token", staff_user.username)
    token = re.search(r"Generated token (\w+) for user", capsys.readouterr().out)[1]

    with_token = APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/call_histories")
    wrong_token = APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/call_histories")

    assert with_token.status_code == 200
    assert wrong_token.status_code == 401
    assert wrong_token["WWW-Authenticate"] == "Token"


@pytest.fixture
def throttling(monkeypatch, empty_cache):
    """The production throttle classes with tiny rates; conftest turns throttling off everywhere else."""
    classes = [import_string(path) for path in site_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]]
    # DRF reads both at import time, so patch the classes rather than settings.
    monkeypatch.setattr(APIView, "throttle_classes", classes)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "3/minute"})
    empty_cache()
    yield
    empty_cache()


# The view's throttles only ever see staff requests: every route needs staff, and DRF checks permissions before
# throttles. The anon rate is applied earlier, by the last authentication class (tests/test_login_limits.py).
@pytest.mark.django_db
def test_staff_requests_are_throttled_per_user(api, throttling):
    statuses = [api.get("/api/call_histories").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_production_settings_enable_both_throttles():
    assert site_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ]


def test_check_deploy_passes_with_no_warnings(tmp_path):
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE",)},
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "voicebot.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://voicebot.example.com",
        "PUBLIC_BASE_URL": "https://voicebot.example.com",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "PHONE_NUMBER_FROM": "+34910000000",
        "OPENAI_API_KEY": "sk-" + secrets.token_hex(24),
        "SQLITE_PATH": str(tmp_path / "deploy.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
