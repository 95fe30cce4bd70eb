"""contacts.spreadsheets: header detection, cell clean-up and limits, below the doors that use it."""
import io
import zipfile

import pytest

from contacts.spreadsheets import SpreadsheetRejected, read_contact_rows
from tests.contacts.sheets import xls_bytes, xlsx_bytes


def _read(name: str, content: bytes, **limits):
    return read_contact_rows(file=io.BytesIO(content), filename=name, size=len(content), **limits)


def test_it_detects_a_header_rather_than_assuming_one():
    with_header = _read("a.csv", b"Phone Number,Name\n600123456,Ana\n")
    without = _read("a.csv", b"600123456,Ana\n600123457,Luis\n")
    assert with_header.header.phone == "Phone Number"
    assert [row.phone for row in with_header.rows] == ["600123456"]
    assert without.header is None
    assert [row.row for row in without.rows] == [1, 2]


def test_it_numbers_rows_as_the_spreadsheet_shows_them_skipping_blank_ones():
    contact_file = _read("a.xlsx", xlsx_bytes([["Phone"], [None, None], [34600123456, "Ana"]]))
    assert [(row.row, row.phone, row.name) for row in contact_file.rows] == [(3, 34600123456, "Ana")]


def test_it_undoes_the_formula_escaping_of_our_own_exports():
    contact_file = _read("a.csv", b"'+34600123456,'=1+1\n'+34600123457,O'Brien\n")
    assert [(row.phone, row.name) for row in contact_file.rows] == [
        ("+34600123456", "=1+1"), ("+34600123457", "O'Brien"),
    ]


def test_it_reads_an_xlsx_saved_with_an_xls_name():
    contact_file = _read("old-name.xls", xlsx_bytes([[34600123456]]))
    assert contact_file.rows[0].phone == 34600123456


def test_it_stops_an_xls_at_the_row_limit():
    with pytest.raises(SpreadsheetRejected, match="more than 5 rows"):
        _read("a.xls", xls_bytes([[34600000000 + index] for index in range(20)]), max_rows=5)


def test_it_reads_only_as_far_as_the_row_limit():
    # A stream that counts what is read from it: 1 MB of rows, of which the reader may only touch the start.
    content = b"".join(b"+346%08d\n" % index for index in range(80_000))

    class CountingStream(io.BytesIO):
        consumed = 0

        def read(self, size=-1):
            data = super().read(size)
            CountingStream.consumed += len(data)
            return data

        def read1(self, size=-1):
            data = super().read1(size)
            CountingStream.consumed += len(data)
            return data

    with pytest.raises(SpreadsheetRejected, match="more than 100 rows"):
        read_contact_rows(file=CountingStream(content), filename="a.txt", size=len(content), max_rows=100)
    assert CountingStream.consumed < 64 * 1024 < len(content)


def _half_sheet_workbook(rows: int) -> bytes:
    """An .xlsx whose sheet XML stops half-way: readable at the start, an error for whoever reads to the end."""
    original = xlsx_bytes([[34600000000 + index] for index in range(rows)])
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            target.writestr(item, data)
    return damaged.getvalue()


def test_it_refuses_a_workbook_damaged_past_its_first_rows():
    with pytest.raises(SpreadsheetRejected, match="could not be opened"):
        _read("a.xlsx", _half_sheet_workbook(500))


def test_it_stops_reading_an_xlsx_at_the_row_limit():
    # Reading the whole sheet would hit the damage in its second half; stopping early never gets there.
    with pytest.raises(SpreadsheetRejected, match="more than 100 rows"):
        _read("a.xlsx", _half_sheet_workbook(20_000), max_rows=100)


def test_it_accepts_a_macro_workbook():
    assert _read("macros.xlsm", xlsx_bytes([[34600123456]])).rows[0].phone == 34600123456
