"""The admin's two-step contact import: preview (nothing saved), confirm, result; and every kind of bad file."""
import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from django_q.models import Schedule
from openpyxl import load_workbook

from contacts.models import Contact, PendingImport
from contacts.tasks import import_uploads_purge
from tests.conftest import role_group
from tests.contacts.sheets import PNG_BYTES, csv_bytes, upload, xls_bytes, xlsx_bytes
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
IMPORT = "/admin/contacts/contact/import/"


def _preview(client, name: str, content: bytes):
    return client.post(IMPORT, {"file": upload(name, content)})


def _token(preview_response) -> str:
    return re.search(r'name="token" value="([0-9a-f]+)"', preview_response.content.decode()).group(1)


def _confirm(client, preview_response):
    return client.post(IMPORT, {"token": _token(preview_response)})


def test_it_explains_the_file_it_expects(admin_client_logged):
    html = admin_client_logged.get(IMPORT).content.decode()
    assert "First column: the phone number" in html
    assert "Up to 20 MB and 200,000 rows per file" in html


def test_it_previews_without_saving_then_imports_the_good_rows_on_confirm(admin_client_logged):
    ContactFactory(phone_number="+34600123459")
    content = xlsx_bytes([
        ["Phone Number", "Name"], [34600123456, "Ana"], ["hello", "Bad"], [34600123459, "Known"],
        ["600 123 456", "Twice"], [34600123457.0, "Luis"],
    ])

    preview = _preview(admin_client_logged, "contacts.xlsx", content)

    html = preview.content.decode()
    assert preview.status_code == 200
    assert "<strong>2</strong> new contacts will be added" in html
    assert "<strong>3</strong> rows will be skipped" in html
    assert "Nothing has been saved yet" in html
    assert "not a valid phone number" in html and "already in contacts" in html and "already on row 2" in html
    assert 'value="Import 2 contacts"' in html
    assert Contact.objects.count() == 1

    result = _confirm(admin_client_logged, preview)

    html = result.content.decode()
    assert "Imported 2 new contact(s) from contacts.xlsx." in html
    assert "3 row(s) were not imported" in html
    assert "<td>hello</td>" in html
    assert set(Contact.objects.values_list("phone_number", "name")) == {
        ("+34600123459", Contact.objects.get(phone_number="+34600123459").name),
        ("+34600123456", "Ana"), ("+34600123457", "Luis"),
    }


@pytest.mark.parametrize("name, content", [
    ("contacts.xls", xls_bytes([["Phone"], [34600123456.0]])),
    ("contacts.csv", csv_bytes([["34600123456"]])),
    ("numbers.txt", b"600123456"),
])
def test_it_imports_every_format(admin_client_logged, name, content):
    _confirm(admin_client_logged, _preview(admin_client_logged, name, content))
    assert list(Contact.objects.values_list("phone_number", flat=True)) == ["+34600123456"]


def test_it_does_not_import_the_same_preview_twice(admin_client_logged):
    preview = _preview(admin_client_logged, "contacts.csv", csv_bytes([["600123456"]]))
    _confirm(admin_client_logged, preview)

    again = _confirm(admin_client_logged, preview)

    assert again.status_code == 302
    assert again["Location"] == IMPORT
    assert Contact.objects.count() == 1


def test_it_refuses_a_forged_token(admin_client_logged):
    response = admin_client_logged.post(IMPORT, {"token": "../../etc/passwd", "filename": "x.csv"}, follow=True)
    assert "This preview has expired" in response.content.decode()


def _assert_refused(response, *phrases: str) -> None:
    html = response.content.decode()
    assert response.status_code == 400
    for phrase in phrases:
        assert phrase in html
    assert 'name="token"' not in html
    assert not Contact.objects.exists()


def test_it_refuses_a_file_that_is_not_a_spreadsheet(admin_client_logged):
    _assert_refused(_preview(admin_client_logged, "photo.xlsx", PNG_BYTES), "not an Excel workbook")


def test_it_refuses_an_empty_file(admin_client_logged):
    _assert_refused(_preview(admin_client_logged, "contacts.csv", b""), "The file is empty")


def test_it_refuses_a_file_over_the_size_limit(admin_client_logged, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    response = _preview(admin_client_logged, "contacts.csv", b"\xff" * (2 * 1024 * 1024))
    _assert_refused(response, "too big", "Split it into smaller files")


def test_it_refuses_a_sheet_with_too_many_rows(admin_client_logged, settings):
    settings.IMPORT_MAX_ROWS = 10
    content = xlsx_bytes([[34600000000 + index] for index in range(50)])
    _assert_refused(_preview(admin_client_logged, "contacts.xlsx", content), "more than 10 rows")


def test_it_refuses_broken_utf8(admin_client_logged):
    content = "Teléfono\n600123456\n".encode("cp1252")
    _assert_refused(_preview(admin_client_logged, "contacts.csv", content), "not UTF-8", "CSV UTF-8")


def test_it_lists_every_row_of_a_garbage_column_and_offers_no_import(admin_client_logged):
    content = xlsx_bytes([["Phone"], ["n/a"], ["call me"], ["12"], ["#REF!"]])
    response = _preview(admin_client_logged, "contacts.xlsx", content)

    html = response.content.decode()
    assert "There is nothing to import from this file" in html
    assert "The first row (“Phone”) was read as column titles and skipped." in html
    assert html.count("not a valid phone number") == 4
    assert 'name="token"' not in html
    assert not Contact.objects.exists()


def test_it_is_only_for_staff_who_may_add_contacts(client, staff_without_role):
    client.force_login(staff_without_role)  # staff, but without the "add contact" permission
    assert client.get(IMPORT).status_code == 403


@pytest.fixture
def bob_client(django_user_model):
    """Another staff user who may import contacts too."""
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob", is_staff=True)
    bob.groups.add(role_group("Supervisors"))
    client = Client()
    client.force_login(bob)
    return client


def test_the_confirm_may_reach_another_process_or_host(admin_client_logged, admin_user, settings, tmp_path):
    # Each host has its own temporary directory and each process its own memory; the README promises no sticky
    # sessions, so the preview must be confirmable from a fresh session on "another host".
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "host-a")
    (tmp_path / "host-a").mkdir()
    preview = _preview(admin_client_logged, "contacts.csv", csv_bytes([["600123456", "Ana"]]))

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "host-b")
    (tmp_path / "host-b").mkdir()
    elsewhere = Client()
    elsewhere.force_login(admin_user)
    result = elsewhere.post(IMPORT, {"token": _token(preview)})

    assert "Imported 1 new contact(s) from contacts.csv." in result.content.decode()
    assert list(Contact.objects.values_list("phone_number", "name")) == [("+34600123456", "Ana")]
    assert not PendingImport.objects.exists()
    assert not any((tmp_path / "host-a").iterdir())


def test_another_staff_user_cannot_confirm_someone_elses_preview(admin_client_logged, bob_client):
    preview = _preview(admin_client_logged, "contacts.csv", csv_bytes([["600123456"]]))

    refused = bob_client.post(IMPORT, {"token": _token(preview)}, follow=True)

    assert "This preview has expired or was already imported" in refused.content.decode()
    assert not Contact.objects.exists()
    _confirm(admin_client_logged, preview)  # still there for the one who uploaded it
    assert Contact.objects.count() == 1


def test_an_expired_preview_is_refused_and_deleted(admin_client_logged):
    preview = _preview(admin_client_logged, "contacts.csv", csv_bytes([["600123456"]]))
    PendingImport.objects.update(created_at=timezone.now() - timedelta(hours=25))

    refused = admin_client_logged.post(IMPORT, {"token": _token(preview)}, follow=True)

    assert "This preview has expired: it is more than 24 hours old. Please upload the file again." in (
        refused.content.decode()
    )
    assert not Contact.objects.exists()
    assert not PendingImport.objects.exists()


def test_previews_nobody_confirmed_are_purged_periodically(admin_client_logged):
    _preview(admin_client_logged, "old.csv", csv_bytes([["600123456"]]))
    PendingImport.objects.update(created_at=timezone.now() - timedelta(hours=25))
    _preview(admin_client_logged, "new.csv", csv_bytes([["600123457"]]))  # a new preview purges the old one
    assert list(PendingImport.objects.values_list("filename", flat=True)) == ["new.csv"]
    PendingImport.objects.update(created_at=timezone.now() - timedelta(hours=25))

    assert import_uploads_purge() == 1

    assert not PendingImport.objects.exists()
    call_command("setup_schedules")
    assert Schedule.objects.get(name="contacts-purge-import-uploads").func == "contacts.tasks.import_uploads_purge"


def test_the_template_staff_download_imports_back_once_filled_in(admin_client_logged):
    assert "Download a template" in admin_client_logged.get(IMPORT).content.decode()
    response = admin_client_logged.get(IMPORT + "template.xlsx")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="contacts-import-template.xlsx"'
    workbook = load_workbook(io.BytesIO(response.content))
    assert [cell.value for cell in workbook["Contacts"][1]] == ["Phone", "Name", "City", "Budget"]
    assert "country code" in " ".join(row[0].value for row in workbook["How to fill it in"].iter_rows())

    sheet = workbook["Contacts"]  # staff fill it in as the rules say, and upload it as it is
    sheet.append(["+34 600 123 456", "Ana Ruiz", "Valencia", 900])
    sheet.append(["600123457", "Luis", None, None])
    filled = io.BytesIO()
    workbook.save(filled)
    _confirm(admin_client_logged, _preview(admin_client_logged, "filled.xlsx", filled.getvalue()))

    ana, luis = Contact.objects.order_by("phone_number")
    assert (ana.phone_number, ana.name, ana.attributes) == ("+34600123456", "Ana Ruiz", {"City": "Valencia",
                                                                                        "Budget": 900})
    assert (luis.phone_number, luis.attributes) == ("+34600123457", {})


def test_the_template_needs_the_import_permission(db):
    viewer = Client()
    viewer.force_login(_staff_with("contacts.view_contact"))
    assert viewer.get(IMPORT + "template.xlsx").status_code == 403


def _staff_with(*codes: str):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("vera", "vera@example.com", "pw", is_staff=True)
    for code in codes:
        app, codename = code.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def test_a_spanish_deployment_says_in_spanish_why_each_row_is_skipped(admin_client_logged, settings):
    settings.LANGUAGE_CODE = "es"
    try:
        ContactFactory(phone_number="+34600123459")
        content = xlsx_bytes([["Phone Number", "Name"], [34600123456, "Ana"], ["hello", "Bad"], [34600123459, "Known"],
                              ["600 123 456", "Twice"], ["12", "Short"]])

        html = _preview(admin_client_logged, "contacts.xlsx", content).content.decode()
    finally:
        translation.deactivate()

    assert "no es un número de teléfono válido: solo se admiten dígitos, espacios, guiones, paréntesis" in html
    assert "no es un número de teléfono válido: demasiado corto" in html
    assert "+34600123459 ya está en los contactos" in html
    assert "+34600123456 ya está en la fila 2 de este archivo" in html
    for english in ("is not a valid phone number", "only digits", "already in contacts", "already on row"):
        assert english not in html, english
    assert not Contact.objects.filter(phone_number="+34600123456").exists()
