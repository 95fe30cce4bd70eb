"""Contact attributes: from a spreadsheet's titled extra columns (every format, admin preview and API), exported
back as columns and imported again unchanged, edited in the admin as `name: value` lines, read and written through
the API; every bad input refused with a message saying what to fix, and nothing half-saved."""
import io
import re

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.attributes import MAX_ATTRIBUTES, MAX_VALUE_LENGTH, AttributesInvalid, attributes_clean
from contacts.models import Contact
from contacts.resources import ContactResource
from tests.contacts.sheets import csv_bytes, xls_bytes, xlsx_bytes
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
IMPORT = "/admin/contacts/contact/import/"
ROWS = [["Teléfono", "Nombre", "Ciudad", "Presupuesto", "", "Código postal"],
        ["600111001", "Ana", "Madrid", 900, "not titled: dropped", "08001"],
        ["600111002", "Luis", "", 1200.5],
        ["600111003", "Eva"]]
EXPECTED = {"+34600111001": {"Ciudad": "Madrid", "Presupuesto": 900, "Código postal": "08001"},
            "+34600111002": {"Presupuesto": 1200.5}, "+34600111003": {}}


def api_import(api, name: str, content: bytes):
    return api.post("/api/users/import", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def stored() -> dict[str, dict]:
    return {str(contact.phone_number): contact.attributes for contact in Contact.objects.all()}


@pytest.mark.parametrize("name, content", [("c.xlsx", xlsx_bytes(ROWS)), ("c.xls", xls_bytes(ROWS)),
                                           ("c.csv", csv_bytes(ROWS, delimiter=";"))])
def test_titled_extra_columns_become_attributes_in_every_format(api, name, content):
    response = api_import(api, name, content)
    assert response.status_code == 200, response.json()
    assert response.json()["attribute_columns"] == ["Ciudad", "Presupuesto", "Código postal"]
    expected = EXPECTED if name != "c.csv" else {  # a CSV has only text: the budget stays as typed
        **EXPECTED, "+34600111001": {**EXPECTED["+34600111001"], "Presupuesto": "900"},
        "+34600111002": {"Presupuesto": "1200.5"}}
    assert stored() == expected


def test_without_a_title_row_extra_columns_are_not_imported(api):
    assert api_import(api, "c.csv", csv_bytes([["600111001", "Ana", "Madrid"]])).status_code == 200
    assert stored() == {"+34600111001": {}}


def test_the_export_has_a_column_per_attribute_and_imports_back_the_same(api):
    api_import(api, "c.xlsx", xlsx_bytes(ROWS))
    exported = api.get("/api/users/export?format=xlsx").content
    header = next(openpyxl.load_workbook(io.BytesIO(exported)).active.iter_rows(values_only=True))
    assert header == ("Phone Number", "Name", "Ciudad", "Presupuesto", "Código postal")
    before = stored()
    Contact.objects.all().delete()
    assert api_import(api, "back.xlsx", exported).status_code == 200
    assert stored() == before


def test_the_csv_export_round_trips_through_the_resource_too():
    ContactFactory(phone_number="+34600111001", name="Ana", attributes={"Ciudad": "=cmd|' /C calc'!A0"})
    dataset = ContactResource().export(queryset=Contact.objects.all())
    assert dataset.headers == ["Phone Number", "Name", "Ciudad"]
    Contact.objects.all().delete()
    ContactResource().import_data(dataset)
    assert stored() == {"+34600111001": {"Ciudad": "=cmd|' /C calc'!A0"}}


def test_the_admin_preview_lists_the_attribute_columns_and_values(admin_client_logged):
    html = admin_client_logged.post(IMPORT, {"file": SimpleUploadedFile("c.xlsx", xlsx_bytes(ROWS))}
                                    ).content.decode()
    assert "Columns imported as attributes" in html
    assert re.search(r"<th>Ciudad</th><th>Presupuesto</th><th>Código postal</th>", html)
    assert "<td>Madrid</td><td>900</td><td>08001</td>" in html
    assert not Contact.objects.exists()  # a preview writes nothing


@pytest.mark.parametrize("title, message", [
    ("Ciu{dad}", "may only hold letters"), ("x" * 41, "longer than 40"), ("_hidden", "start with a letter")])
def test_a_title_that_cannot_name_an_attribute_refuses_the_file_saying_which(api, title, message):
    response = api_import(api, "c.csv", csv_bytes([["Phone", "Name", title], ["600111001", "Ana", "x"]]))
    assert response.status_code == 400 and message in response.json()["detail"]
    assert "Column 3" in response.json()["detail"] and not Contact.objects.exists()


def test_two_columns_with_one_title_refuse_the_file(api):
    response = api_import(api, "c.csv", csv_bytes([["Phone", "Name", "Ciudad", "Ciudad"], ["600111001", "A", 1, 2]]))
    assert response.status_code == 400 and "Two columns are titled 'Ciudad'" in response.json()["detail"]


def test_too_many_attribute_columns_refuse_the_file(api):
    titles = [f"c{n}" for n in range(MAX_ATTRIBUTES + 1)]
    response = api_import(api, "c.csv", csv_bytes([["Phone", "Name", *titles], ["600111001", "A", *titles]]))
    assert response.status_code == 400 and f"more than {MAX_ATTRIBUTES} attribute columns" in response.json()["detail"]


def test_a_too_long_value_fails_its_row_only(api):
    rows = [["Phone", "Name", "Notas"], ["600111001", "Ana", "x" * (MAX_VALUE_LENGTH + 1)], ["600111002", "Luis", "ok"]]
    body = api_import(api, "c.csv", csv_bytes(rows)).json()
    assert body["imported_users"] == ["+34600111002"]
    assert body["failed_users"] == [{"row": 2, "input": "600111001",
                                     "error": f"The attribute 'Notas' is longer than {MAX_VALUE_LENGTH} characters."}]


def test_the_admin_edits_attributes_as_name_value_lines(admin_client_logged):
    contact = ContactFactory(phone_number="+34600111001", name="Ana", attributes={"Ciudad": "Madrid"})
    page = f"/admin/contacts/contact/{contact.pk}/change/"
    assert "Ciudad: Madrid</textarea>" in admin_client_logged.get(page).content.decode()
    response = admin_client_logged.post(page, {"phone_number": "+34600111001", "name": "Ana", "comments": "",
                                               "attributes": "Ciudad: Sevilla\r\n\r\nPresupuesto: 900\r\nCP: 08001",
                                               "calls-TOTAL_FORMS": 0, "calls-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact.refresh_from_db()
    assert contact.attributes == {"Ciudad": "Sevilla", "Presupuesto": 900, "CP": "08001"}


@pytest.mark.parametrize("text, message", [
    ("Ciudad Madrid", "Line 1 ('Ciudad Madrid') has no ':'"),
    ("Ciudad: Madrid\nCiudad: Sevilla", "Line 2: the attribute 'Ciudad' is already on an earlier line"),
    ("{bad}: 1", "Line 1: The attribute name '{bad}' may only hold"),
    ("\n".join(f"k{n}: v" for n in range(MAX_ATTRIBUTES + 1)), f"at most {MAX_ATTRIBUTES} attributes"),
])
def test_the_admin_refuses_bad_lines_saying_which_and_keeps_the_contact(admin_client_logged, text, message):
    contact = ContactFactory(phone_number="+34600111001", name="Ana", attributes={"Ciudad": "Madrid"})
    response = admin_client_logged.post(f"/admin/contacts/contact/{contact.pk}/change/", {
        "phone_number": "+34600111001", "name": "Ana Changed", "comments": "", "attributes": text,
        "calls-TOTAL_FORMS": 0, "calls-INITIAL_FORMS": 0})
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["attributes"])
    contact.refresh_from_db()
    assert (contact.name, contact.attributes) == ("Ana", {"Ciudad": "Madrid"})


def test_the_api_reads_creates_and_replaces_attributes(api):
    created = api.post("/api/users", {"phone_number": "600111001", "attributes": {"Ciudad": " Madrid ", "Hab": 3}},
                       format="json")
    assert created.status_code == 201 and created.json()["attributes"] == {"Ciudad": "Madrid", "Hab": 3}
    updated = api.put("/api/users/+34600111001", {"attributes": {"Zona": "Centro"}}, format="json")
    assert updated.json()["attributes"] == {"Zona": "Centro"}
    assert api.put("/api/users/+34600111001", {"name": "Ana"}, format="json").json()["attributes"] == {"Zona": "Centro"}
    assert api.get("/api/users/+34600111001").json()["attributes"] == {"Zona": "Centro"}


@pytest.mark.parametrize("attributes, message", [
    (["Madrid"], "must be an object"), ({"Ciudad": {"a": 1}}, "must be a text or a number"),
    ({"Ciudad": True}, "must be a text or a number"), ({"": "x"}, "needs a name"),
    ({"Ciudad": "x" * (MAX_VALUE_LENGTH + 1)}, "longer than"),
    ({f"k{n}": n for n in range(MAX_ATTRIBUTES + 1)}, f"at most {MAX_ATTRIBUTES}"),
])
def test_the_api_refuses_bad_attributes_with_the_reason(api, attributes, message):
    ContactFactory(phone_number="+34600111001", attributes={"Ciudad": "Madrid"})
    response = api.put("/api/users/+34600111001", {"attributes": attributes}, format="json")
    assert response.status_code == 400 and response.json()["detail"].startswith("attributes: ")
    assert message in response.json()["detail"]
    assert Contact.objects.get().attributes == {"Ciudad": "Madrid"}
    assert api.post("/api/users", {"phone_number": "600111002", "attributes": attributes},
                    format="json").status_code == 400
    assert Contact.objects.count() == 1


def test_the_schema_describes_attributes(api):
    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    attributes = schema["ContactCreate"]["properties"]["attributes"]
    assert attributes["type"] == "object" and attributes["maxProperties"] == MAX_ATTRIBUTES
    assert "attributes" in schema["Contact"]["properties"]


def test_a_non_finite_number_is_refused():
    with pytest.raises(AttributesInvalid, match="finite"):
        attributes_clean({"x": float("nan")})
