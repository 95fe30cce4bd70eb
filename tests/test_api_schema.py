"""The OpenAPI schema at /api/schema/ and the Swagger page at /api/docs/, which must work with no internet."""
import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

_ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"')


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_documents_the_prototype_routes(schema):
    paths = {path.rstrip("/") for path in schema["paths"]}

    assert schema["openapi"].startswith("3.")
    assert {
        "/api/users", "/api/users/{phone_number}", "/api/users/import", "/api/users/export",
        "/api/users/{phone_number}/calls", "/api/call_histories", "/api/call_histories/export", "/recordings/{name}",
    } <= paths


def test_the_schema_describes_the_call_history_filters_and_export(schema):
    paths = {path.rstrip("/"): item for path, item in schema["paths"].items()}
    listing = paths["/api/call_histories"]["get"]
    export = paths["/api/call_histories/export"]["post"]

    assert {p["name"] for p in listing["parameters"]} == {
        "start_date", "end_date", "phone_number", "call_status", "extracted_info_keyword", "include_test",
    }
    assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in export["responses"]["200"]["content"]


def test_the_schema_says_every_route_needs_credentials(schema):
    assert set(schema["components"]["securitySchemes"]) >= {"tokenAuth", "cookieAuth"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert {} not in operation.get("security", [{}]), f"{method.upper()} {path} is documented as public"


def test_the_docs_page_loads_its_assets_from_our_static_files(api):
    response = api.get("/api/docs/")
    html = response.content.decode()
    assets = _ASSET.findall(html)

    assert response.status_code == 200
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} would need the internet"
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not among our static files"
    assert "cdn" not in html.lower()
