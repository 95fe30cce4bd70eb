"""Call history as a spreadsheet: the prototype's columns, one column per extracted field (in the order of the
EXTRACTION_SCHEMA), then the call's cost; formulas escaped.

The API's `/api/call_histories/export` and the admin's export actions both build their rows here, so staff get the
same columns whichever door they use.
"""
import csv
import io
from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from openpyxl import Workbook

from calls.models import Call
from contacts.formulas import sheet_cell
from extraction.schemas import ExtractedData, extraction_schema_get

FIXED_COLUMNS = ["Call Sid", "Phone Number", "Timestamp", "Call Status", "Call Duration", "Conversation"]
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def format_duration(seconds: float | None) -> str:
    """`M:SS`, minutes unbounded (`62:05`); empty when the call never connected."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def export_filename(extension: str) -> str:
    return f"call_history_{timezone.localdate():%Y%m%d}.{extension}"


def call_history_table(calls: Iterable[Call]) -> tuple[list[str], list[list[object]]]:
    """Header and rows, every cell already passed through sheet_cell."""
    calls = list(calls)
    fields = extracted_field_names(ExtractedData.from_stored(call.extracted_data).values for call in calls)
    header = FIXED_COLUMNS + [extracted_header(field) for field in fields] + ["Cost"]
    rows = [_row(call, fields) for call in calls]
    return [sheet_cell(title) for title in header], rows


def call_history_xlsx(calls: Iterable[Call]) -> bytes:
    return table_xlsx(*call_history_table(calls), title="Call history")


def call_history_csv(calls: Iterable[Call]) -> bytes:
    return table_csv(*call_history_table(calls))


def table_xlsx(header: list[object], rows: Iterable[list[object]], *, title: str) -> bytes:
    """A one-sheet workbook of `header` and `rows` (cells already passed through sheet_cell)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_csv(header: list[object], rows: Iterable[list[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    # The BOM lets Excel open accented names and transcripts as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def extracted_field_names(extracted: Iterable[dict[str, object]]) -> list[str]:
    """Union of the keys of extracted-data dicts (ExtractedData.values): the schema's fields in the schema's order,
    then others (an earlier schema's) in the order they first appear."""
    fields: dict[str, None] = {}
    for data in extracted:
        fields.update(dict.fromkeys(data))
    order = {name: index for index, name in enumerate(_schema_fields())}
    return sorted(fields, key=lambda name: order.get(name, len(order)))  # stable: the others keep their order


def extracted_header(field: str) -> str:
    return field.replace("_", " ").title()


def _schema_fields() -> list[str]:
    try:
        return list(extraction_schema_get().model_fields)
    except ImproperlyConfigured:  # reported by the extraction system check; the export still works
        return []


def _row(call: Call, fields: list[str]) -> list[object]:
    extracted = ExtractedData.from_stored(call.extracted_data).values
    timestamp = timezone.localtime(call.created_at).isoformat(timespec="seconds") if call.created_at else ""
    cells = [
        call.twilio_sid or "",
        str(call.contact.phone_number) if call.contact_id else call.phone_number,
        timestamp,
        call.status,
        format_duration(call.duration),
        call.conversation,
        *(export_cell(extracted.get(field)) for field in fields),
        float(call.cost_total) if call.cost_total is not None else "",  # a number, so staff can sum it
    ]
    return [sheet_cell(cell) for cell in cells]


def export_cell(value: object) -> object:
    """Numbers stay numbers so staff can sum budgets; lists and objects become readable text."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return ", ".join(str(export_cell(item)) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {export_cell(item)}" for key, item in value.items())
    return str(value)
