"""Contact export: the django-import-export resource and the three file formats (xlsx, csv, txt).

The admin's Export button and `GET/POST /api/users/export` both go through `ContactResource` and these formats,
so a file looks the same whichever door produced it. Imports never use django-import-export's per-row machinery
(too slow for 100,000 rows, and it would bypass our number rules): the admin and the API call
`contacts.services.contacts_import`, and `ContactResource.import_data` hands its rows to the same core.
"""
import tablib
from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.formats import base_formats
from import_export.results import Result, RowResult

from contacts.formulas import sheet_cell
from contacts.models import Contact
from contacts.services import ImportReport, contacts_import_rows, import_attribute_names
from contacts.spreadsheets import SheetRow


class ContactResource(resources.ModelResource):
    phone_number = fields.Field(attribute="phone_number", column_name="Phone Number")
    name = fields.Field(attribute="name", column_name="Name")

    class Meta:
        model = Contact
        fields = ("phone_number", "name")
        export_order = ("phone_number", "name")
        name = "Contacts"

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        """The phone and name columns, then one column per attribute any exported contact has (the import's
        round trip: a file exported here imports back with the same attributes)."""
        queryset = self.get_queryset() if queryset is None else queryset
        dataset = super().export(queryset=queryset, **kwargs)
        stored = [attributes if isinstance(attributes, dict) else {}
                  for attributes in queryset.values_list("attributes", flat=True)]  # the same order as the rows
        # Columns in the order the oldest contacts had them (the file's own order, for imported contacts).
        for key in dict.fromkeys(key for attributes in reversed(stored) for key in attributes):
            dataset.append_col([attributes.get(key, "") for attributes in stored], header=key)
        return dataset

    def import_data(self, dataset: tablib.Dataset, dry_run: bool = False, raise_errors: bool = False, **kwargs):
        """Imports through this resource (say `manage.py import contacts.resources.ContactResource file.csv`)
        take the admin's and the API's road, so numbers are normalised and checked the same way."""
        first_row = 2 if dataset.headers else 1  # tablib took row 1 as the headers
        rows = [
            SheetRow(row=number, phone=values[0] if values else None, name=values[1] if len(values) > 1 else "",
                     extra=tuple(values[2:]))
            for number, values in enumerate(dataset, start=first_row)
        ]
        header = SheetRow(row=1, phone=None, extra=tuple(dataset.headers[2:])) if dataset.headers else None
        return _result(contacts_import_rows(rows=rows, dry_run=dry_run, attribute_names=import_attribute_names(header)))


def _result(report: ImportReport) -> Result:
    """The report in django-import-export's terms: one "new" row per contact, one invalid row per failure."""
    result = Result()
    result.diff_headers = ["Phone Number"]
    for contact in report.new:
        row_result = RowResult()
        row_result.import_type, row_result.object_repr = RowResult.IMPORT_TYPE_NEW, str(contact)
        result.append_row_result(row_result)
        result.increment_row_result_total(row_result)
    for error in report.failed:
        invalid = ValidationError({"phone_number": error.error})
        result.append_invalid_row(error.row, {"Phone Number": error.input}, invalid)
        result.totals[RowResult.IMPORT_TYPE_INVALID] += 1
    result.total_rows = len(report.new) + len(report.failed)
    return result


def _escaped(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy with every cell through sheet_cell, so no name can run as a formula in Excel."""
    safe = tablib.Dataset(headers=[sheet_cell(header) for header in dataset.headers or []])
    for row in dataset:
        safe.append([sheet_cell(cell) for cell in row])
    return safe


class SafeXLSX(base_formats.XLSX):
    def export_data(self, dataset, **kwargs):
        return super().export_data(_escaped(dataset), **kwargs)


class SafeCSV(base_formats.CSV):
    def export_data(self, dataset, **kwargs):
        return super().export_data(_escaped(dataset), **kwargs)


class NumbersTXT(base_formats.Format):
    """The prototype's txt: the phone numbers joined by commas, nothing else.

    Not escaped: every value is a validated E.164 number (`+` and digits), which cannot carry a formula, and
    the prototype's users read this file with scripts that expect the bare numbers.
    """

    def get_title(self):
        return "txt"

    def export_data(self, dataset, **kwargs):
        column = "Phone Number" if "Phone Number" in (dataset.headers or []) else 0
        return ",".join(str(number) for number in dataset[column]) if dataset.height else ""

    def get_extension(self):
        return "txt"

    def get_content_type(self):
        return "text/plain"

    def is_binary(self):
        return False

    def can_export(self):
        return True


EXPORT_FORMATS = {"xlsx": SafeXLSX, "csv": SafeCSV, "txt": NumbersTXT}


def contacts_export(*, queryset, file_format: str) -> bytes:
    """The contacts of `queryset` as a file in `file_format` (one of EXPORT_FORMATS)."""
    data = EXPORT_FORMATS[file_format]().export_data(ContactResource().export(queryset=queryset))
    return data.encode("utf-8") if isinstance(data, str) else data
