"""The import template staff download from the import page: an .xlsx with the columns the import reads.

Sheet "Contacts": a title row (Phone, Name, then two example attribute columns) for staff to fill in below; the
import recognises the title row and skips it, and every further titled column becomes an attribute. Sheet "How to
fill it in": the rules, in words, as the import page states them.
"""
import io

from openpyxl import Workbook
from openpyxl.styles import Font

COLUMNS = ("Phone", "Name", "City", "Budget")
WIDTHS = (18, 28, 18, 12)


def import_template_xlsx(*, region: str, max_rows: int) -> bytes:
    """The template workbook, as bytes. Reads and writes nothing else."""
    workbook = Workbook()
    contacts = workbook.active
    contacts.title = "Contacts"
    contacts.append(COLUMNS)
    for cell, width in zip(contacts[1], WIDTHS, strict=True):
        cell.font = Font(bold=True)
        contacts.column_dimensions[cell.column_letter].width = width
    contacts.freeze_panes = "A2"
    for column in "A":  # numbers typed as text, so Excel keeps a leading + or 0
        for row in range(2, 1002):
            contacts[f"{column}{row}"].number_format = "@"
    rules = workbook.create_sheet("How to fill it in")
    for line in (
        "One contact per row on the Contacts sheet, below the title row (keep the titles).",
        "Phone: the phone number, with its country code (+34 600 123 456) or without it "
        f"(then it is taken as a number from {region}).",
        "Name: optional.",
        "Every further column with a title (City and Budget are examples: rename, remove or add columns) becomes an "
        "attribute of the contact, named by its title; the bot's prompts can use it. Leave a cell empty for none.",
        f"At most {max_rows} rows. Numbers already in the contacts and invalid numbers are listed and skipped.",
        "Then: Contacts > Import > choose this file > Check the file. Nothing is saved before you confirm.",
    ):
        rules.append([line])
    rules.column_dimensions["A"].width = 120
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
