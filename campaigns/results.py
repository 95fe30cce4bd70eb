"""A campaign's results as a spreadsheet: one row per contact (attempts, outcome, last call, the callee's do-not-call
words, extracted fields), the same columns from the admin and the API."""
from collections.abc import Iterator

from django.http import HttpResponse
from django.utils import timezone

from calls.review.exports import (
    export_cell,
    extracted_field_names,
    extracted_header,
    table_csv,
    table_xlsx,
)
from campaigns.models import Campaign, CampaignContact
from contacts.formulas import sheet_cell
from extraction.schemas import ExtractedData

COLUMNS = ["Phone Number", "Name", "State", "Outcome", "Reason", "Attempts", "Last Result", "Last Call Sid",
           "Last Call At", "Last Call Status", "Do Not Call Quote"]
FORMATS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_CHUNK = 2000


def campaign_results(*, campaign: Campaign, file_format: str) -> bytes:
    """The results file (`csv` or `xlsx`). Reads the contacts twice in chunks (field names, then rows)."""
    entries = (CampaignContact.objects.filter(campaign=campaign).select_related("contact", "last_call")
               .order_by("pk"))
    extracted = (ExtractedData.from_stored(data).values for data in
                 entries.filter(last_call__isnull=False).values_list("last_call__extracted_data", flat=True)
                 .iterator(chunk_size=_CHUNK))
    fields = extracted_field_names(extracted)
    header = [sheet_cell(title) for title in COLUMNS + [extracted_header(field) for field in fields]]
    rows = _rows(entries, fields)
    if file_format == "xlsx":
        return table_xlsx(header, rows, title="Results")
    return table_csv(header, rows)


def campaign_results_response(*, campaign: Campaign, file_format: str) -> HttpResponse:
    """The results file as a download (`file_format` is one of FORMATS)."""
    response = HttpResponse(campaign_results(campaign=campaign, file_format=file_format),
                            content_type=FORMATS[file_format])
    filename = f"campaign_{campaign.pk}_results_{timezone.localdate():%Y%m%d}.{file_format}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _rows(entries, fields: list[str]) -> Iterator[list[object]]:
    for entry in entries.iterator(chunk_size=_CHUNK):
        call = entry.last_call
        values = ExtractedData.from_stored(call.extracted_data).values if call else {}
        cells = [
            str(entry.contact.phone_number), entry.contact.name, entry.get_state_display(),
            entry.get_outcome_display() if entry.outcome else "", entry.reason, entry.attempts, entry.last_result,
            call.twilio_sid or "" if call else "",
            timezone.localtime(call.created_at).isoformat(timespec="seconds") if call else "",
            call.status if call else "", entry.contact.do_not_call_quote,
            *(export_cell(values.get(field)) for field in fields),
        ]
        yield [sheet_cell(cell) for cell in cells]
