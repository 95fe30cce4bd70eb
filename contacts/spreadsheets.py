"""Reading contact files: .xlsx, .xls, .csv and .txt into numbered rows of (phone cell, name cell).

Every door (admin import, API import, bench) reads through `read_contact_rows`. It knows nothing about
phone numbers beyond "does this first row look like a header"; validating and storing is `contacts.services`.
Limits are enforced while reading: the size before a byte is parsed, the row count as rows stream in, so a
huge or hostile file is refused without being loaded.
"""
import csv
import io
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

import openpyxl
import xlrd
from django.conf import settings
from openpyxl.utils.exceptions import InvalidFileException

from contacts.formulas import unescape_formula

SUPPORTED = ".xlsx, .xls, .csv or .txt"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_TXT_SEPARATORS = re.compile(r"[,\r\n]+")
_DIGIT = re.compile(r"\d")
# zipfile answers a damaged archive with NotImplementedError (unknown compression flags), RuntimeError (an
# entry marked encrypted) or lzma's own error, besides the obvious ones.
_BROKEN_WORKBOOK = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, SyntaxError, InvalidFileException, KeyError, IndexError,
    EOFError, OSError, ValueError, TypeError, NotImplementedError, RuntimeError,
)
# xlrd's compound-document reader raises its own CompDocError (not an XLRDError) and struct.error on a damaged file.
_BROKEN_XLS = (xlrd.XLRDError, xlrd.compdoc.CompDocError, struct.error, ValueError, IndexError, KeyError, OSError)
_WORKBOOK_EXTENSIONS = {".xlsx", ".xlsm", ".xls", ""}


class SpreadsheetRejected(Exception):
    """The file cannot be imported at all; the message tells staff what to do about it."""


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One data row: its number as staff see it in their spreadsheet (or txt entry), and the raw cells."""

    row: int
    phone: object
    name: object = ""

    @property
    def is_blank(self) -> bool:
        return all(value is None or str(value).strip() == "" for value in (self.phone, self.name))


@dataclass(frozen=True, slots=True)
class ContactFile:
    """The data rows of a file, and its title row when it had one (so staff can be told it was skipped)."""

    rows: list[SheetRow]
    header: SheetRow | None


def read_contact_rows(
    *, file: IO[bytes], filename: str, size: int, max_bytes: int | None = None, max_rows: int | None = None
) -> ContactFile:
    """The non-blank rows of `file`, its header apart; raise SpreadsheetRejected with the reason."""
    max_rows = settings.IMPORT_MAX_ROWS if max_rows is None else max_rows
    check_size(size=size, max_bytes=max_bytes)
    if size == 0:
        raise SpreadsheetRejected("The file is empty. Choose a file with phone numbers in its first column.")
    reader = _reader_for(file=file, filename=filename)
    rows = [row for row in _limited(reader(file), max_rows=max_rows) if not row.is_blank]
    header = rows.pop(0) if rows and _is_header(rows[0]) else None
    if not rows:
        raise SpreadsheetRejected(
            "The file has no rows to import. Put the phone numbers in the first column (and names in the second)."
        )
    return ContactFile(rows=rows, header=header)


def check_size(*, size: int, max_bytes: int | None = None) -> None:
    """Refuse a file over IMPORT_MAX_BYTES before reading any of it."""
    max_bytes = settings.IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    if size > max_bytes:
        raise SpreadsheetRejected(
            f"The file is too big ({size / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB). "
            "Split it into smaller files and import them one by one."
        )


def _reader_for(*, file: IO[bytes], filename: str):
    """Pick the reader by the file's content when it is a workbook, else by its extension."""
    extension = PurePath(filename or "").suffix.lower()
    magic = file.read(4)
    file.seek(0)
    if magic == _ZIP_MAGIC and extension in _WORKBOOK_EXTENSIONS:
        return _xlsx_rows
    if magic == _OLE_MAGIC and extension in _WORKBOOK_EXTENSIONS:
        return _xls_rows
    if extension in _WORKBOOK_EXTENSIONS - {""}:
        raise SpreadsheetRejected(
            f"This file is named {extension} but is not an Excel workbook. "
            f"Open it in Excel or LibreOffice and save it as {SUPPORTED}, then import that file."
        )
    if extension == ".csv":
        return _csv_rows
    if extension == ".txt":
        return _txt_rows
    raise SpreadsheetRejected(f"Files of type '{extension or 'no extension'}' cannot be imported. Use {SUPPORTED}.")


def _limited(rows: Iterator[SheetRow], *, max_rows: int) -> Iterator[SheetRow]:
    """Pass rows through, stopping at the first one past the limit rather than reading the rest of the file.

    Blank rows count too (a sheet of a million empty rows is as slow to read as a full one); one extra row is
    allowed for a header.
    """
    for count, sheet_row in enumerate(rows, start=1):
        if count > max_rows + 1:
            raise SpreadsheetRejected(
                f"The file has more than {max_rows:,} rows. Split it into files of at most {max_rows:,} rows."
            )
        yield sheet_row


def _is_header(first: SheetRow) -> bool:
    """A title such as "Phone Number" or "Teléfono": text without a single digit."""
    return isinstance(first.phone, str) and not _DIGIT.search(first.phone)


def _cells(row_number: int, values) -> SheetRow:
    values = [unescape_formula(value) for value in values[:2]]
    return SheetRow(
        row=row_number, phone=values[0] if values else None, name=values[1] if len(values) > 1 else ""
    )


def _xlsx_rows(file: IO[bytes]) -> Iterator[SheetRow]:
    try:
        # read_only streams the sheet XML, so a huge sheet is never held in memory at once.
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except _BROKEN_WORKBOOK as exc:
        raise _damaged(exc) from exc
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(max_col=2, values_only=True), start=1):
            yield _cells(number, list(values))
    except _BROKEN_WORKBOOK as exc:  # damage further into the file shows only while streaming it
        raise _damaged(exc) from exc
    finally:
        workbook.close()


def _damaged(exc: Exception) -> SpreadsheetRejected:
    return SpreadsheetRejected(
        f"This Excel file could not be opened ({type(exc).__name__}). It may be damaged or password "
        f"protected. Open it in Excel or LibreOffice, save it again as {SUPPORTED}, and import that file."
    )


def _xls_rows(file: IO[bytes]) -> Iterator[SheetRow]:
    try:
        book = xlrd.open_workbook(file_contents=file.read(), on_demand=True)
        sheet = book.sheet_by_index(0)
    except _BROKEN_XLS as exc:
        raise SpreadsheetRejected(
            f"This .xls file could not be opened ({exc}). Save it again as .xlsx or .csv and import that file."
        ) from exc
    for index in range(sheet.nrows):
        values = sheet.row_values(index, 0, min(2, sheet.ncols))
        yield _cells(index + 1, values)


def _text_lines(file: IO[bytes]) -> Iterator[str]:
    """Decode as UTF-8 lazily (a BOM from Excel's "CSV UTF-8" is dropped); bad bytes stop the import."""
    stream = io.TextIOWrapper(file, encoding="utf-8-sig", errors="strict", newline="")
    line_number = 0
    try:
        for line in stream:
            line_number += 1
            yield line
    except UnicodeDecodeError as exc:
        raise SpreadsheetRejected(
            f"The file is not UTF-8 text (unreadable characters after line {line_number}). In Excel choose "
            "Save As > \"CSV UTF-8 (Comma delimited)\", or import the .xlsx file instead."
        ) from exc
    finally:
        stream.detach()  # leave the caller's file open


def _csv_rows(file: IO[bytes]) -> Iterator[SheetRow]:
    lines = _text_lines(file)
    first = next(lines, "")
    delimiter = _delimiter(first)
    reader = csv.reader(_chain(first, lines), delimiter=delimiter)
    try:
        for number, values in enumerate(reader, start=1):
            yield _cells(number, values)
    except csv.Error as exc:
        raise SpreadsheetRejected(f"The CSV file is malformed ({exc}). Save it again from Excel as CSV.") from exc


def _delimiter(first_line: str) -> str:
    """Excel in Spanish and other locales writes `;` between columns; a plain list may have no separator."""
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _txt_rows(file: IO[bytes]) -> Iterator[SheetRow]:
    number = 0
    for line in _text_lines(file):
        for entry in _TXT_SEPARATORS.split(line):
            if entry.strip():
                number += 1
                yield SheetRow(row=number, phone=unescape_formula(entry.strip()), name="")
