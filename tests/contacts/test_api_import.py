"""POST /api/users/import: every accepted format, per-row errors, and every kind of bad file."""
import struct
import time
import tracemalloc

import pytest

from contacts.models import Contact
from tests.contacts.sheets import (
    PNG_BYTES,
    csv_bytes,
    upload,
    xls_bytes,
    xlsx_bytes,
    xlsx_lying_about,
    xlsx_with_shared_strings,
)
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
# The prototype's keys, and the attribute columns read from the title row (an addition the prototype lacked).
REPORT_KEYS = {"message", "imported_count", "failed_count", "imported_users", "failed_users", "attribute_columns"}


def _import(api, name: str, content: bytes):
    return api.post("/api/users/import", {"file": upload(name, content)}, format="multipart")


def test_it_imports_an_xlsx_with_a_header_and_numeric_cells(api):
    content = xlsx_bytes([["Teléfono", "Nombre"], [34600123456, "Ana"], [34600123457.0, "Luis"], ["600 123 458", None]])

    response = _import(api, "contacts.xlsx", content)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == REPORT_KEYS
    assert body["imported_users"] == ["+34600123456", "+34600123457", "+34600123458"]
    assert (body["imported_count"], body["failed_count"], body["failed_users"]) == (3, 0, [])
    assert dict(Contact.objects.values_list("phone_number", "name")) == {
        "+34600123456": "Ana", "+34600123457": "Luis", "+34600123458": "",
    }


def test_it_imports_an_xlsx_without_a_header(api):
    response = _import(api, "contacts.xlsx", xlsx_bytes([[34600123456, "Ana"], [34600123457, "Luis"]]))
    assert response.json()["imported_users"] == ["+34600123456", "+34600123457"]


def test_it_imports_an_old_xls_file(api):
    content = xls_bytes([["Phone", "Name"], [34600123456.0, "Ana"], ["0034600123457", "Luis"]])
    response = _import(api, "contacts.xls", content)
    assert response.json()["imported_users"] == ["+34600123456", "+34600123457"]
    assert Contact.objects.get(phone_number="+34600123456").name == "Ana"


def test_it_imports_a_csv_with_semicolons_a_bom_and_float_text(api):
    content = "\ufeffTeléfono;Nombre\r\n34600123456.0;José\r\n\r\n+34 600 123 457;Ana\r\n".encode()
    response = _import(api, "contacts.csv", content)
    assert response.json()["imported_users"] == ["+34600123456", "+34600123457"]
    assert Contact.objects.get(phone_number="+34600123456").name == "José"


def test_it_imports_a_txt_of_numbers_split_by_commas_and_newlines(api):
    content = b"phone numbers\n600123456, 600123457\n600123458,\n\n+34600123459"
    response = _import(api, "numbers.txt", content)
    assert response.json()["imported_users"] == ["+34600123456", "+34600123457", "+34600123458", "+34600123459"]


def test_it_imports_the_good_rows_and_reports_each_bad_one(api):
    ContactFactory(phone_number="+34600123459")
    content = xlsx_bytes([
        ["Phone Number", "Name"],
        [34600123456, "Ana"],      # row 2: new
        ["hello", "Bad"],          # row 3: invalid
        ["600 123 456", "Again"],  # row 4: same as row 2
        [34600123459, "Known"],    # row 5: already in contacts
        [None, "No number"],       # row 6: missing
        [34600123457, "Luis"],     # row 7: new
    ])

    body = _import(api, "contacts.xlsx", content).json()

    assert body["imported_users"] == ["+34600123456", "+34600123457"]
    assert body["failed_count"] == 4
    assert [(row["row"], row["input"]) for row in body["failed_users"]] == [
        (3, "hello"), (4, "600 123 456"), (5, "34600123459"), (6, ""),
    ]
    errors = [row["error"] for row in body["failed_users"]]
    assert "not a valid phone number" in errors[0]
    assert "already on row 2 of this file" in errors[1]
    assert "already in contacts" in errors[2]
    assert "missing" in errors[3]
    assert Contact.objects.get(phone_number="+34600123459").name != "Known"
    assert Contact.objects.count() == 3


def test_it_reports_every_row_when_re_importing_the_same_file(api):
    content = csv_bytes([["600123456"], ["600123457"]])
    _import(api, "contacts.csv", content)
    response = _import(api, "contacts.csv", content)
    assert response.status_code == 200
    assert response.json()["imported_count"] == 0
    assert response.json()["failed_count"] == 2
    assert Contact.objects.count() == 2


def test_it_refuses_a_file_that_is_not_a_spreadsheet(api):
    response = _import(api, "photo.xlsx", PNG_BYTES)
    assert response.status_code == 400
    assert "not an Excel workbook" in response.json()["detail"]
    assert "save it as" in response.json()["detail"]
    assert not Contact.objects.exists()


def test_it_refuses_a_damaged_workbook(api):
    response = _import(api, "broken.xlsx", xlsx_bytes([[34600123456]])[:500])
    assert response.status_code == 400
    assert "could not be opened" in response.json()["detail"]


def test_it_refuses_an_unknown_file_type(api):
    response = _import(api, "contacts.pdf", b"%PDF-1.4")
    assert response.status_code == 400
    assert ".xlsx, .xls, .csv or .txt" in response.json()["detail"]


@pytest.mark.parametrize("name", ["empty.xlsx", "empty.csv", "empty.txt"])
def test_it_refuses_an_empty_file(api, name):
    response = _import(api, name, b"")
    assert response.status_code == 400
    assert "The file is empty" in response.json()["detail"]


def test_it_refuses_a_file_with_only_a_header(api):
    response = _import(api, "contacts.xlsx", xlsx_bytes([["Phone Number", "Name"]]))
    assert response.status_code == 400
    assert "no rows to import" in response.json()["detail"]


def test_it_refuses_a_50_mb_file_without_parsing_it(api):
    # Garbage that would fail as "not UTF-8" if it were read: the size answer proves it was not.
    content = b"\xff" * (50 * 1024 * 1024)
    response = _import(api, "huge.csv", content)
    assert response.status_code == 400
    assert "too big (" in response.json()["detail"]
    assert "the limit is 20 MB" in response.json()["detail"]
    assert "Split it" in response.json()["detail"]


def test_it_accepts_a_file_just_under_the_size_limit(api, settings):
    settings.IMPORT_MAX_BYTES = 64 * 1024
    content = b"600123456\n" + b"\n" * (64 * 1024 - 20)
    response = _import(api, "numbers.txt", content)
    assert response.status_code == 200
    assert response.json()["imported_users"] == ["+34600123456"]


def test_it_refuses_a_sheet_with_too_many_rows(api, settings):
    settings.IMPORT_MAX_ROWS = 50
    content = xlsx_bytes([["Phone"]] + [[34600000000 + index] for index in range(200)])
    response = _import(api, "contacts.xlsx", content)
    assert response.status_code == 400
    assert "more than 50 rows" in response.json()["detail"]
    assert not Contact.objects.exists()


def test_it_stops_reading_at_the_row_limit(api, settings):
    # Rows past the limit end in bytes that are not UTF-8: reading that far would give a different error.
    settings.IMPORT_MAX_ROWS = 100
    rows = b"".join(b"+346%08d\n" % index for index in range(20_000))
    response = _import(api, "contacts.csv", rows + b"\xff\xfe broken tail\n")
    assert response.status_code == 400
    assert "more than 100 rows" in response.json()["detail"]


def test_it_refuses_broken_utf8_and_says_how_to_save_the_file(api):
    content = "Teléfono,Nombre\n600123456,José\n".encode("latin-1")
    response = _import(api, "contacts.csv", content)
    assert response.status_code == 400
    assert "not UTF-8" in response.json()["detail"]
    assert "CSV UTF-8" in response.json()["detail"]
    assert not Contact.objects.exists()


def test_it_refuses_broken_utf8_in_a_txt(api):
    response = _import(api, "numbers.txt", b"600123456,\xe9600123457")
    assert response.status_code == 400
    assert "not UTF-8" in response.json()["detail"]


def test_it_imports_nothing_from_a_column_of_garbage_and_lists_each_row(api):
    content = xlsx_bytes([["Phone", "Name"], ["n/a", "A"], ["call me", "B"], ["12", "C"], ["#REF!", "D"]])

    response = _import(api, "contacts.xlsx", content)

    assert response.status_code == 400
    body = response.json()
    assert "No valid phone number" in body["detail"]
    assert body["imported_count"] == 0
    assert [row["row"] for row in body["failed_users"]] == [2, 3, 4, 5]
    assert all("not a valid phone number" in row["error"] for row in body["failed_users"])
    assert not Contact.objects.exists()


def test_it_asks_for_the_file_field(api):
    response = api.post("/api/users/import", {"upload": upload("contacts.csv", b"600123456")}, format="multipart")
    assert response.status_code == 400
    assert '"file"' in response.json()["detail"]


def _timed_import(api, name: str, content: bytes):
    started = time.perf_counter()
    response = _import(api, name, content)
    return response, time.perf_counter() - started


def test_a_huge_first_csv_line_is_answered_at_once(api):
    # csv.Sniffer on the whole line took minutes (quadratic), freezing every call relayed by the process.
    content = b',"x' * 100_000 + b"\n600123456\n"
    response, seconds = _timed_import(api, "contacts.csv", content)
    assert response.status_code in (200, 400)
    assert seconds < 2


def test_it_refuses_a_zip_bomb_before_inflating_it(api):
    content = xlsx_with_shared_strings(200)  # half a megabyte that inflates to 200 MB of shared strings

    response, seconds = _timed_import(api, "contacts.xlsx", content)

    assert response.status_code == 400
    assert "unpacks to far more data (200 MB)" in response.json()["detail"]
    assert seconds < 1
    assert not Contact.objects.exists()


def test_it_refuses_a_small_bomb_too(api):
    response = _import(api, "contacts.xlsx", xlsx_with_shared_strings(8))  # the 22 KB file of the issue
    assert response.status_code == 400
    assert "unpacks to far more data" in response.json()["detail"]


def test_a_zip_that_understates_a_size_is_never_inflated_past_it(api):
    # The directory says styles.xml does not deflate at all; really it inflates to 64 MB. zipfile's own read()
    # would inflate all of it in one call before cutting it to the declared size.
    content = xlsx_lying_about("xl/styles.xml", megabytes=64)
    tracemalloc.start()
    try:
        response = _import(api, "contacts.xlsx", content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert "could not be opened" in response.json()["detail"]
    assert peak < 16 * 1024 * 1024


def test_it_imports_a_workbook_within_the_unpacked_limits(api, settings):
    settings.IMPORT_MAX_ROWS = 20_000
    rows = [["Phone", "Name"]] + [[34600000000 + index, f"Name {index}"] for index in range(20_000)]
    response = _import(api, "contacts.xlsx", xlsx_bytes(rows))
    assert response.status_code == 200
    assert response.json()["imported_count"] == 20_000


def test_it_refuses_a_damaged_xls_that_trips_xlrd(api):
    content = bytearray(xls_bytes([["Phone"], [34600123456.0]]))
    number = content.find(struct.pack("<HHHH", 0x0203, 14, 1, 0))  # the NUMBER record of row 2, column A
    content[number + 6 : number + 8] = struct.pack("<H", 300)  # column 300: xlrd asserts columns stay under 256

    response = _import(api, "contacts.xls", bytes(content))

    assert response.status_code == 400
    assert "could not be opened (AssertionError)" in response.json()["detail"]
