"""/api/schema/ documents every /api/users route of the contacts app, at the prototype's paths."""
import pytest

pytestmark = pytest.mark.django_db


def test_it_documents_the_user_routes(api):
    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/users"]) >= {"get", "post"}
    assert set(paths["/api/users/{phone_number}"]) >= {"get", "put", "delete"}
    assert set(paths["/api/users/import"]) == {"post"}
    assert set(paths["/api/users/export"]) == {"get", "post"}
    assert "/api/users/" not in paths  # the trailing-slash aliases stay out of the docs
    import_body = paths["/api/users/import"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in import_body
    export_parameters = {parameter["name"]: parameter for parameter in paths["/api/users/export"]["get"]["parameters"]}
    assert sorted(export_parameters["format"]["schema"]["enum"]) == ["csv", "txt", "xlsx"]
    assert "404" in paths["/api/users/{phone_number}"]["get"]["responses"]
