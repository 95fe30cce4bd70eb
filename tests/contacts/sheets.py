"""Contact files built in memory for the import tests: xlsx, xls, csv and txt, as staff's tools write them."""
import io
import zipfile

import openpyxl
import xlwt
from django.core.files.uploadedfile import SimpleUploadedFile

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xls_bytes(rows: list[list]) -> bytes:
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Contacts")
    for row_index, row in enumerate(rows):
        for column_index, value in enumerate(row):
            sheet.write(row_index, column_index, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list], delimiter: str = ",") -> bytes:
    return "\r\n".join(delimiter.join(str(value) for value in row) for row in rows).encode("utf-8")


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def xlsx_with_shared_strings(megabytes: int) -> bytes:
    """A small valid .xlsx whose shared-strings part inflates to `megabytes` MB of `<si>` entries (a zip bomb)."""
    source = xlsx_bytes([["Phone", "Name"], [34600123456, "Ana"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as original, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "[Content_Types].xml":
                override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHARED_STRINGS_TYPE}"/>'
                data = data.replace(b"</Types>", override.encode() + b"</Types>")
            bomb.writestr(item, data)
        with bomb.open("xl/sharedStrings.xml", "w", force_zip64=True) as strings:
            strings.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            chunk = b"<si><t>Ana</t></si>" * 65536
            for _ in range(megabytes * 1024 * 1024 // len(chunk)):
                strings.write(chunk)
            strings.write(b"</sst>")
    return out.getvalue()


def xlsx_lying_about(part: str, *, megabytes: int) -> bytes:
    """A valid .xlsx whose `part` really inflates to `megabytes` MB while its zip directory declares a size no
    bigger than the part's compressed bytes (as if it did not deflate at all)."""
    source = xlsx_bytes([["Phone", "Name"], [34600123456, "Ana"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as original, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as lying:
        for item in original.infolist():
            if item.filename != part:
                lying.writestr(item, original.read(item))
        with lying.open(part, "w") as big:
            for _ in range(megabytes):
                big.write(b" " * (1024 * 1024))
    data = bytearray(out.getvalue())
    entry = data.rfind(part.encode()) - 46  # the part's central-directory record (it follows every local header)
    assert data[entry : entry + 4] == b"PK\x01\x02"
    data[entry + 24 : entry + 28] = data[entry + 20 : entry + 24]  # uncompressed size := compressed size
    return bytes(data)
