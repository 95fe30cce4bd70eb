"""The results workbook of a `manage.py place_call` run: one row per number, then the rows that were skipped.

The prototype's console client wrote its results under `call_results/`; so does this, one file per run, named by
its start time so runs never overwrite each other. Every cell goes through sheet_cell: names and numbers come
from the operator's spreadsheet and extracted values from what callees said.
"""
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

from calls.services.call_lists import CallOutcome, Skipped
from calls.review.exports import export_cell, extracted_field_names, extracted_header, format_duration
from contacts.formulas import sheet_cell

RESULT_COLUMNS = [
    "Row", "Phone Number", "Name", "Status", "Duration", "Answered By", "End Reason", "Error", "Call Sid",
]
SKIPPED_COLUMNS = ["Row", "Input", "Reason"]


def campaign_results_write(
    *, outcomes: Sequence[CallOutcome], skipped: Sequence[Skipped], directory: Path, started_at: datetime
) -> Path:
    """Write `call_results_<start time>.xlsx` under `directory` (created if missing) and return its path."""
    fields = extracted_field_names(outcome.extracted for outcome in outcomes)
    workbook = Workbook()
    results = workbook.active
    results.title = "Results"
    _append(results, RESULT_COLUMNS + [extracted_header(name) for name in fields])
    for outcome in outcomes:
        _append(results, _result_row(outcome, fields))
    skipped_sheet = workbook.create_sheet("Skipped")
    _append(skipped_sheet, SKIPPED_COLUMNS)
    for entry in skipped:
        _append(skipped_sheet, [entry.where, entry.input, entry.reason])
    directory.mkdir(parents=True, exist_ok=True)
    path = _free_path(directory, f"call_results_{started_at:%Y%m%d-%H%M%S}")
    workbook.save(path)
    return path


def _result_row(outcome: CallOutcome, fields: list[str]) -> list[object]:
    target = outcome.target
    fixed = [
        target.where, target.number, target.name, outcome.status, format_duration(outcome.duration),
        outcome.answered_by, outcome.end_reason, outcome.error, outcome.sid,
    ]
    return fixed + [export_cell(outcome.extracted.get(name)) for name in fields]


def _append(sheet, values: list[object]) -> None:
    sheet.append([sheet_cell(value) for value in values])


def _free_path(directory: Path, stem: str) -> Path:
    path, n = directory / f"{stem}.xlsx", 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.xlsx"
    return path
