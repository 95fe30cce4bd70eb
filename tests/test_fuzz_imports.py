"""Fuzzing contact imports: random bytes under every extension, random CSV and TXT text, and real workbooks cut
short or with bytes flipped (xlsx, xls and csv as Excel and our tests write them). Reading either works or raises SpreadsheetRejected (the import then answers
ContactImportRejected) with a readable reason; nothing else escapes, and no invalid number is ever stored.

Hypothesis runs derandomized with a bounded number of examples and no example database.
"""
import io

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact
from contacts.phones import InvalidPhoneNumber, normalize_phone
from contacts.services import ContactImportRejected, contacts_import
from contacts.spreadsheets import SpreadsheetRejected, read_contact_rows
from tests.contacts.sheets import csv_bytes, xls_bytes

FUZZ = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FILENAMES = ["contacts.csv", "contacts.txt", "contacts.xlsx", "contacts.xls", "contacts", "contacts.CSV",
             "contacts.pdf", "contacts.xlsm", ""]
MAGICS = [b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbf"]

cell_text = st.one_of(
    st.text(alphabet=st.sampled_from("0123456789+ -()."), max_size=16),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["600 123 456", "+34600123456", "0034 600-123-457", "Teléfono", "=1+2", "'+34600123458",
                     "612345678", "abc", "", "\"", "600123456.0"]),
)
separators = st.sampled_from([",", ";", "\t", "\n", "\r\n", "\r", '"', ",\n"])


@st.composite
def contact_text(draw) -> str:
    parts = draw(st.lists(st.tuples(cell_text, separators), max_size=12))
    return "".join(cell + separator for cell, separator in parts)


def _read(data: bytes, filename: str, **limits):
    return read_contact_rows(file=io.BytesIO(data), filename=filename, size=len(data), **limits)


def _read_or_rejected(data: bytes, filename: str) -> None:
    try:
        contact_file = _read(data, filename, max_rows=500)
    except SpreadsheetRejected as exc:
        assert str(exc).strip()
        return
    assert contact_file.rows and all(row.row >= 1 for row in contact_file.rows)


def _workbook(rows: list[tuple]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ROWS = [["Phone", "Name"], ["600 123 456", "Ana"], [34600123457, "Luis"], ["nope", "X"]] + \
    [[f"+3460012{n:04d}", f"N{n}"] for n in range(40)]
XLSX = _workbook([tuple(row) for row in ROWS])
XLS = xls_bytes(ROWS)
CSV = csv_bytes(ROWS, delimiter=";")
REAL_FILES = {"contacts.xlsx": XLSX, "contacts.xls": XLS, "contacts.csv": CSV}


@given(magic=st.sampled_from(MAGICS), data=st.binary(max_size=2048), filename=st.sampled_from(FILENAMES))
@FUZZ
def test_random_bytes_are_read_or_rejected(magic, data, filename):
    _read_or_rejected(magic + data, filename)


@given(text=contact_text(), filename=st.sampled_from(["contacts.csv", "contacts.txt"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
@FUZZ
def test_random_csv_and_txt_text_is_read_or_rejected(text, filename, encoding):
    _read_or_rejected(text.encode(encoding, errors="replace"), filename)


@given(cut=st.integers(min_value=0, max_value=len(XLSX) - 1), filename=st.sampled_from(["c.xlsx", "c.xls", "c"]))
@FUZZ
def test_a_truncated_workbook_is_read_or_rejected(cut, filename):
    _read_or_rejected(XLSX[:cut], filename)


@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=len(XLSX) - 1), st.integers(1, 255)),
                      min_size=1, max_size=8))
@FUZZ
def test_a_workbook_with_flipped_bytes_is_read_or_rejected(flips):
    data = bytearray(XLSX)
    for position, mask in flips:
        data[position] ^= mask
    _read_or_rejected(bytes(data), "contacts.xlsx")


@st.composite
def flipped_file(draw) -> tuple[str, bytes]:
    """A real file with a few bytes flipped: damage that gets past the magic and deep into the parser."""
    filename = draw(st.sampled_from(sorted(REAL_FILES)))
    data = bytearray(REAL_FILES[filename])
    # Positions drawn evenly over the file (Hypothesis' own integers favour the first bytes, the headers).
    rng = draw(st.randoms(use_true_random=False))
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    return filename, bytes(data)


@given(file=flipped_file())
@settings(FUZZ, max_examples=400)
def test_a_real_file_with_flipped_bytes_is_read_or_rejected(file):
    filename, data = file
    _read_or_rejected(data, filename)


@pytest.mark.django_db
@given(text=contact_text(), filename=st.sampled_from(["contacts.csv", "contacts.txt"]))
@FUZZ
def test_an_import_never_stores_an_invalid_number(text, filename):
    data = text.encode()
    try:
        report = contacts_import(file=io.BytesIO(data), filename=filename, size=len(data))
    except ContactImportRejected as exc:
        assert str(exc).strip()
        report = None
    stored = list(Contact.objects.values_list("phone_number", flat=True))
    try:
        for number in stored:
            assert normalize_phone(number) == number
        if report is not None:
            assert sorted(report.imported_numbers) == sorted(stored)
            assert all(error.error for error in report.failed)
    except InvalidPhoneNumber as exc:
        raise AssertionError(f"stored an invalid number {exc.value!r}") from exc
    finally:
        Contact.objects.all().delete()
