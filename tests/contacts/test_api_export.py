"""GET/POST /api/users/export?format=xlsx|csv|txt, formula escaping, and export -> import round trips."""
import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts():
    return [
        ContactFactory(phone_number="+34600123456", name="Ana"),
        ContactFactory(phone_number="+14155552671", name="=HYPERLINK(\"http://evil\")"),
        ContactFactory(phone_number="+34912345678", name=""),
    ]


def _xlsx_rows(content: bytes) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return list(sheet.iter_rows(values_only=True))


def test_it_exports_xlsx_by_default_with_escaped_cells(api, contacts):
    response = api.get("/api/users/export")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="users_export.xlsx"'
    rows = _xlsx_rows(response.content)
    assert rows[0] == ("Phone Number", "Name")
    assert set(rows[1:]) == {
        ("+34600123456", "Ana"), ("+14155552671", "'=HYPERLINK(\"http://evil\")"), ("+34912345678", None),
    }


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_it_exports_a_name_with_control_characters_without_them(api, file_format):
    # A CSV import or the API can store them; xlsx cannot hold them and refused the whole export.
    ContactFactory(phone_number="+34600123456", name="Ana\x01 Ruiz\x0b")

    response = api.get(f"/api/users/export?format={file_format}")

    assert response.status_code == 200
    if file_format == "xlsx":
        assert _xlsx_rows(response.content)[1] == ("+34600123456", "Ana Ruiz")
    else:
        assert "+34600123456,Ana Ruiz" in response.content.decode("utf-8-sig").splitlines()


def test_it_exports_csv(api, contacts):
    response = api.get("/api/users/export?format=csv")

    assert response["Content-Disposition"] == 'attachment; filename="users_export.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == ["Phone Number", "Name"]
    assert ["+34600123456", "Ana"] in rows
    assert ["+14155552671", "'=HYPERLINK(\"http://evil\")"] in rows


def test_it_exports_txt_as_numbers_joined_by_commas(api, contacts):
    response = api.post("/api/users/export?format=txt")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="users_export.txt"'
    assert sorted(response.content.decode().split(",")) == ["+14155552671", "+34600123456", "+34912345678"]


def test_it_exports_an_empty_list(api):
    assert api.get("/api/users/export?format=txt").content == b""
    assert _xlsx_rows(api.get("/api/users/export?format=xlsx").content) == [("Phone Number", "Name")]


def test_it_refuses_an_unknown_format(api):
    response = api.get("/api/users/export?format=pdf")
    assert response.status_code == 400
    assert response.json() == {"detail": "Unknown export format 'pdf'. Use one of: xlsx, csv, txt."}


@pytest.mark.parametrize("file_format", ["xlsx", "csv", "txt"])
def test_it_imports_its_own_export_back_unchanged(api, contacts, file_format):
    expected_names = {"xlsx": None, "csv": None, "txt": ""}[file_format]
    exported = api.get(f"/api/users/export?format={file_format}").content
    before = set(Contact.objects.values_list("phone_number", "name"))
    Contact.objects.all().delete()

    upload = SimpleUploadedFile(f"users_export.{file_format}", exported)
    response = api.post("/api/users/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.json()
    assert response.json()["failed_users"] == []
    after = set(Contact.objects.values_list("phone_number", "name"))
    if expected_names is None:
        assert after == before
    else:  # txt carries numbers only
        assert after == {(phone, "") for phone, _ in before}
