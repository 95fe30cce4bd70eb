"""Reading contact files: .xlsx, .xls, .csv and .txt into numbered rows of (phone cell, name cell, further cells).

Columns after the second are the contact's attributes, named by the title row (contacts.attributes); a file
without a title row has no attributes, as before. At most MAX_ATTRIBUTES further columns are read.

Every door (admin import, API import, bench) reads through `read_contact_rows`. It knows nothing about
phone numbers beyond "does this first row look like a header"; validating and storing is `contacts.services`.
Limits are enforced while reading: the size before a byte is parsed, what an .xlsx unpacks to before and
while it is inflated, the row count as rows stream in, so a huge or hostile file is refused without being
loaded. Whatever the parser libraries raise on a damaged file becomes `SpreadsheetRejected`.
"""
import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

import xlrd
from django.conf import settings
from openpyxl.reader.excel import ExcelReader
from openpyxl.workbook import Workbook

from contacts.attributes import MAX_ATTRIBUTES
from contacts.formulas import unescape_formula

SUPPORTED = ".xlsx, .xls, .csv or .txt"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_TXT_SEPARATORS = re.compile(r"[,\r\n]+")
_DIGIT = re.compile(r"\d")
_WORKBOOK_EXTENSIONS = {".xlsx", ".xlsm", ".xls", ""}
# csv.Sniffer's work grows with the square of its input (0.3 s for a 12 KB line, minutes for a few hundred KB,
# holding the GIL of a process relaying live calls); the first few KB show the delimiter as well as the rest would.
_SNIFF_CHARS = 4096
# Phone, name, then one more than the attributes allowed: so a file with too many is told so, not cut short.
_MAX_COLUMNS = 2 + MAX_ATTRIBUTES + 1

# What an .xlsx may unpack to. Contact lists measured 125-140 bytes of XML a row for a phone and a name, 400 for
# seven columns, deflated 8-13 times; a zip bomb deflates about 1000 times.
_UNPACKED_BYTES_PER_ROW = 1024
# openpyxl holds every part it reads before the first row (shared strings above all) in memory, whole; two text
# columns take about 60 bytes a row there.
_IN_MEMORY_BYTES_PER_ROW = 256
_MIN_ROWS_BUDGETED = 10_000  # so that a small IMPORT_MAX_ROWS still leaves room for the parts every workbook has
_MAX_RATIO = 100
_RATIO_CHECKED_FROM = 1024 * 1024  # a small part may deflate well and costs nothing
_MAX_PARTS = 1000
_INFLATE_CHUNK = 64 * 1024
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}  # all that Excel and LibreOffice write


class SpreadsheetRejected(Exception):
    """The file cannot be imported at all; the message tells staff what to do about it."""


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One data row: its number as staff see it in their spreadsheet (or txt entry), and the raw cells."""

    row: int
    phone: object
    name: object = ""
    extra: tuple = ()  # the cells after the name: attributes, named by the title row

    @property
    def is_blank(self) -> bool:
        return all(value is None or str(value).strip() == "" for value in (self.phone, self.name, *self.extra))


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
    values = [unescape_formula(value) for value in values[:_MAX_COLUMNS]]
    while len(values) > 2 and (values[-1] is None or values[-1] == ""):
        values.pop()  # trailing empty cells (a sheet's ragged right edge) are no columns
    return SheetRow(
        row=row_number, phone=values[0] if values else None, name=values[1] if len(values) > 1 else "",
        extra=tuple(values[2:]),
    )


# openpyxl, zipfile and xlrd meet a damaged file with whatever their code trips on (AssertionError, KeyError,
# struct.error, zlib.error, ...), not with one documented error: anything they raise while reading is the file's
# fault, and staff get a 400 saying so rather than a 500.
def _xlsx_rows(file: IO[bytes]) -> Iterator[SheetRow]:
    try:
        workbook = _open_xlsx(file)
    except SpreadsheetRejected:
        raise
    except Exception as exc:  # noqa: BLE001 (see above)
        raise _damaged(exc) from exc
    try:
        sheet = workbook.worksheets[0]
        # The sheet's own width when it declares one: a two-column list is not padded to _MAX_COLUMNS a row.
        columns = min(sheet.max_column or _MAX_COLUMNS, _MAX_COLUMNS)
        for number, values in enumerate(sheet.iter_rows(max_col=columns, values_only=True), start=1):
            yield _cells(number, list(values))
    except SpreadsheetRejected:
        raise
    except Exception as exc:  # noqa: BLE001 (damage further into the file shows only while streaming it)
        raise _damaged(exc) from exc
    finally:
        workbook.close()


def _open_xlsx(file: IO[bytes]) -> Workbook:
    """openpyxl's read-only workbook (the sheet XML streams), inflated through a budget it cannot exceed."""
    rows = max(settings.IMPORT_MAX_ROWS, _MIN_ROWS_BUDGETED)
    archive = _BudgetedArchive(file)
    _check_declared_sizes(archive.infolist(), rows=rows)
    # load_workbook(), with the archive it would open swapped for ours before it reads a byte of any part.
    reader = ExcelReader(file, read_only=True, data_only=True)
    reader.archive.close()
    reader.archive = archive
    archive.budget = rows * _IN_MEMORY_BYTES_PER_ROW  # everything read before the first row is held whole
    reader.read()
    archive.budget += rows * (_UNPACKED_BYTES_PER_ROW - _IN_MEMORY_BYTES_PER_ROW)
    return reader.wb


def _check_declared_sizes(parts: list[zipfile.ZipInfo], *, rows: int) -> None:
    """Refuse a bomb from what its zip directory declares, before inflating anything.

    A declared size can lie; `_BudgetedArchive` counts what is really inflated, so a lie only gets this far.
    """
    if len(parts) > _MAX_PARTS or any(part.compress_type not in _ZIP_METHODS for part in parts):
        raise _damaged(ValueError("unusual zip structure"))
    for part in parts:
        if part.file_size > _RATIO_CHECKED_FROM and part.file_size > _MAX_RATIO * max(part.compress_size, 1):
            raise _unpacks_too_big(part.file_size)
        in_memory = not part.filename.startswith("xl/worksheets/")
        if in_memory and part.file_size > rows * _IN_MEMORY_BYTES_PER_ROW:
            raise _unpacks_too_big(part.file_size)
    total = sum(part.file_size for part in parts)
    if total > rows * _UNPACKED_BYTES_PER_ROW:
        raise _unpacks_too_big(total)


class _BudgetedArchive(zipfile.ZipFile):
    """A workbook's zip as openpyxl reads it: every part inflated a chunk at a time, against a byte budget.

    zipfile's own read() inflates a whole part in one call (up to 1 GiB at once, whatever size the zip declares)
    and openpyxl reads most parts that way; through this archive no read inflates more than a chunk, and the
    bytes really inflated, not the declared sizes, are what is counted.
    """

    budget = 0

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):
        part = super().open(name, mode, pwd, force_zip64=force_zip64)
        return _BudgetedPart(part, archive=self) if mode == "r" else part

    def spend(self, size: int) -> None:
        self.budget -= size
        if self.budget < 0:
            raise _unpacks_too_big(None)


class _BudgetedPart(io.RawIOBase):
    def __init__(self, part: IO[bytes], *, archive: _BudgetedArchive) -> None:
        super().__init__()
        self._part, self._archive = part, archive

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._part.read(min(len(buffer), _INFLATE_CHUNK))
        self._archive.spend(len(data))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._part.close()
        super().close()


def _unpacks_too_big(size: int | None) -> SpreadsheetRejected:
    amount = f" ({size / 1_048_576:,.0f} MB)" if size else ""
    return SpreadsheetRejected(
        f"This Excel file unpacks to far more data{amount} than {settings.IMPORT_MAX_ROWS:,} rows of contacts "
        "need; it may be damaged or built to overload the server. Open it in Excel or LibreOffice, keep only the "
        "phone and name columns, save it as .xlsx or .csv, and import that file."
    )


def _damaged(exc: Exception) -> SpreadsheetRejected:
    return SpreadsheetRejected(
        f"This Excel file could not be opened ({type(exc).__name__}). It may be damaged or password "
        f"protected. Open it in Excel or LibreOffice, save it again as {SUPPORTED}, and import that file."
    )


def _xls_rows(file: IO[bytes]) -> Iterator[SheetRow]:
    try:
        # The file is at most IMPORT_MAX_BYTES, and the old format caps a sheet at 65,536 x 256 cells.
        with open(os.devnull, "w") as quiet:  # xlrd prints its warnings about a damaged file to stdout
            book = xlrd.open_workbook(file_contents=file.read(), on_demand=True, logfile=quiet)
            sheet = book.sheet_by_index(0)
            rows = [sheet.row_values(index, 0, min(_MAX_COLUMNS, sheet.ncols)) for index in range(sheet.nrows)]
    except Exception as exc:  # noqa: BLE001 (see above _xlsx_rows)
        raise _damaged(exc) from exc
    for index, values in enumerate(rows):
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
        return csv.Sniffer().sniff(first_line[:_SNIFF_CHARS], delimiters=",;\t").delimiter
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
