"""A contact's free-form attributes (`Contact.attributes`): what a spreadsheet's extra columns said about the person
(city, budget, agent...), used by the prompts as `{{contact.attributes.<key>}}` (calls.prompt_variables).

One rule for every door (import, admin, API): a JSON object of at most MAX_ATTRIBUTES keys, each key a short name
(letters, digits, spaces, `_`, `-`, `.`; it is also the spreadsheet column's header) and each value a short text or a
number. An empty cell is no attribute. `attributes_clean` returns the cleaned dict or raises AttributesInvalid saying
what to fix, in words staff understand.
"""
from __future__ import annotations

import math
import re

from django.utils.translation import gettext as _

MAX_ATTRIBUTES = 30
MAX_KEY_LENGTH = 40
MAX_VALUE_LENGTH = 500
KEY_PATTERN = r"[^\W_][\w .-]*"  # starts with a letter or digit; `{` and `}` never, so a prompt can name it
_KEY = re.compile(rf"^{KEY_PATTERN}$")

Value = str | int | float


class AttributesInvalid(ValueError):
    """The attributes cannot be stored; the message says what to fix."""


def attribute_key_problem(key: object) -> str:
    """Why `key` cannot name an attribute ("" when it can)."""
    if not isinstance(key, str) or not key.strip():
        return _("An attribute needs a name.")
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH:
        return _("The attribute name %(name)s… is longer than %(max)s characters.") % {
            "name": repr(key[:MAX_KEY_LENGTH]), "max": MAX_KEY_LENGTH}
    if not _KEY.match(key):
        return _("The attribute name %(name)s may only hold letters, digits, spaces, '_', '-' and '.', "
                 "and must start with a letter or digit.") % {"name": repr(key)}
    return ""


def attributes_clean(value: object) -> dict[str, Value]:
    """`value` as storable attributes (keys and texts stripped, empty values dropped); AttributesInvalid if not."""
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise AttributesInvalid(_('Attributes must be an object of name: value pairs, e.g. {"city": "Madrid"}.'))
    cleaned: dict[str, Value] = {}
    for key, item in value.items():
        if problem := attribute_key_problem(key):
            raise AttributesInvalid(problem)
        key = key.strip()
        if key in cleaned:
            raise AttributesInvalid(_("The attribute %(name)s is given twice.") % {"name": repr(key)})
        if item is None or (isinstance(item, str) and not item.strip()):
            continue
        cleaned[key] = _value(key, item)
    if len(cleaned) > MAX_ATTRIBUTES:
        raise AttributesInvalid(_("A contact may have at most %(max)s attributes, not %(count)s.")
                                % {"max": MAX_ATTRIBUTES, "count": len(cleaned)})
    return cleaned


def _value(key: str, item: object) -> Value:
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        raise AttributesInvalid(_("The attribute %(name)s must be a text or a number, not %(type)s.")
                                % {"name": repr(key), "type": type(item).__name__})
    if isinstance(item, float) and not math.isfinite(item):
        raise AttributesInvalid(_("The attribute %(name)s must be a finite number.") % {"name": repr(key)})
    if isinstance(item, float) and item.is_integer() and abs(item) < 2**53:
        return int(item)  # a spreadsheet's 28001.0 is the 28001 staff typed
    if isinstance(item, str):
        item = item.strip()
        if len(item) > MAX_VALUE_LENGTH:
            raise AttributesInvalid(_("The attribute %(name)s is longer than %(max)s characters.")
                                    % {"name": repr(key), "max": MAX_VALUE_LENGTH})
    return item


def attribute_text(value: object) -> str:
    """How an attribute reads in a prompt."""
    return "" if value is None else str(value)


_NUMBER = re.compile(r"^-?(0|[1-9]\d{0,14})(\.\d+)?$")  # 900, 12.5, 0.5; not 08001 (a postcode: text)


def attributes_to_lines(attributes: object) -> str:
    """The admin's editor text: one `name: value` a line."""
    items = attributes.items() if isinstance(attributes, dict) else ()
    return "\n".join(f"{key}: {value}" for key, value in items)


def attributes_from_lines(text: str) -> dict[str, Value]:
    """Parse the admin's `name: value` lines (blank lines skipped; a value that reads as a plain number is stored
    as one), then clean them; AttributesInvalid naming the line that is wrong."""
    parsed: dict[str, Value] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise AttributesInvalid(_("Line %(line)s (%(text)s) has no ':'. Write one attribute a line, "
                                      "as name: value (e.g. Ciudad: Madrid).")
                                    % {"line": number, "text": repr(line.strip()[:40])})
        key, value = key.strip(), value.strip()
        if key in parsed:
            raise AttributesInvalid(_("Line %(line)s: the attribute %(name)s is already on an earlier line.")
                                    % {"line": number, "name": repr(key)})
        if problem := attribute_key_problem(key):
            raise AttributesInvalid(_("Line %(line)s: %(problem)s") % {"line": number, "problem": problem})
        parsed[key] = (float(value) if "." in value else int(value)) if _NUMBER.match(value) else value
    return attributes_clean(parsed)
