"""Variables in the prompts under AI/: `{{contact.name}}` is replaced, when a call starts, by the callee's name.

The syntax is double braces around a dotted name, spaces allowed inside: `{{ today }}`. Single braces are text (a
prompt may show JSON, and `say_exactly` keeps its own `{line}`). The names:

  contact.name, contact.notes            the contact's name and notes (the admin's "comments")
  contact.attributes.<key>               one of the contact's attributes (a spreadsheet's extra column)
  campaign.name                          the call's campaign ("" for a call outside any campaign)
  today                                  the callee's local date: 2026-11-27 (Friday)
  local_time                             the callee's local time, 24 h: 17:05
  time_zone                              the zone those are read in: Europe/Madrid

A name outside this list fails when the files are loaded (`unknown_variables`, called by calls.agent_config), so a
misspelt variable stops a test, a system check or a campaign's save, never a live call. A value that is missing for
one callee (no name on file, no such attribute) renders as nothing; the call notes which (calls.services).

Rendering is one pass of plain substitution over the text: no attribute access, no format spec, and a value that
itself contains `{{...}}` stays as it is.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from contacts.attributes import KEY_PATTERN

VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
FIXED = ("contact.name", "contact.notes", "campaign.name", "today", "local_time", "time_zone")
ATTRIBUTE_PREFIX = "contact.attributes."
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # not the locale's
_ATTRIBUTE = re.compile(rf"^{re.escape(ATTRIBUTE_PREFIX)}{KEY_PATTERN}$")


def variables_in(text: str) -> list[str]:
    """The variable names `text` uses, in order, each once."""
    return list(dict.fromkeys(VARIABLE.findall(text)))


def is_known(name: str) -> bool:
    return name in FIXED or bool(_ATTRIBUTE.match(name))


def unknown_variables(text: str) -> list[str]:
    """The names in `text` that are not variables (see the module's list)."""
    return [name for name in variables_in(text) if not is_known(name)]


def render(text: str, values: Mapping[str, str]) -> str:
    """`text` with each variable replaced by its value ("" when `values` lacks it)."""
    return VARIABLE.sub(lambda match: values.get(match.group(1), ""), text)


def missing_values(names: Iterable[str], values: Mapping[str, str]) -> list[str]:
    """Those of `names` that would render as nothing."""
    return [name for name in names if not values.get(name)]


def clock_values(now: datetime) -> dict[str, str]:
    """today, local_time and time_zone for `now` (aware, in the callee's zone)."""
    return {"today": f"{now:%Y-%m-%d} ({WEEKDAYS[now.weekday()]})", "local_time": f"{now:%H:%M}", "time_zone": str(now.tzinfo)}
