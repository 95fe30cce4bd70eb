"""Spreadsheet injection guard: every exported cell passes through `escape_formula`.

A cell starting with `=`, `+`, `-`, `@` (or a tab/CR that some spreadsheet apps strip first) would be run as a
formula when staff open the export, so it gets a leading apostrophe. E.164 numbers start with `+`, so exports of
phone numbers are escaped too: the apostrophe is invisible in Excel and LibreOffice and keeps the `+`.
"""

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value
