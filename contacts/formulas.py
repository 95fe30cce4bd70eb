"""What every exported spreadsheet cell passes through: `sheet_cell` (control characters out, formulas escaped).

A cell starting with `=`, `+`, `-`, `@` (or a tab/CR that some spreadsheet apps strip first) would be run as a
formula when staff open the export, so it gets a leading apostrophe. A value that is only a number, such as an
E.164 phone number (`+34600123456`) or `-5`, cannot run anything and is left as it is: the apostrophe would show
as a character in xlsx cells and break integrators' scripts reading the CSV.
"""
import re

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def escape_formula(value: object) -> object:
    if isinstance(value, str) and value.startswith(_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def unescape_formula(value: object) -> object:
    """Undo `escape_formula` (also as older exports applied it to plain numbers), so exports import back."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_TRIGGERS):
        return value[1:]
    return value


def sheet_cell(value: object) -> object:
    """An exported cell: control characters dropped (xlsx cannot hold them; a CSV import or the API can store
    them in a name) and formula-like text escaped."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return escape_formula(value)
