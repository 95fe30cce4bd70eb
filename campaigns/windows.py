"""Calling windows in the callee's own time: which days and hours a campaign may ring a number. Pure (no Django).

A window is days of the week (0 = Monday) and hour ranges, e.g. Mon-Fri 10:00-14:00 and 17:00-20:00, read on the
callee's wall clock. A number's time zones come from its prefix (phonenumbers); a number that spans several zones
(a Spanish mobile: Madrid and the Canaries) may only be rung when the window holds in every one of them, so nobody
is called outside it. Local times go through zoneinfo, so daylight-saving changes move the window with the clock.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_time_zones

UNKNOWN_ZONE = "Etc/Unknown"
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# How far ahead next_open looks before deciding the window never opens (two weeks covers any weekly window,
# whatever the offsets between the zones).
SEARCH_DAYS = 15
_HOUR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class WindowInvalid(ValueError):
    """The window cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) and [start, end) local hour ranges; an end of 24:00 is midnight at the end of the day."""

    days: frozenset[int]
    hours: tuple[tuple[time, time | None], ...]  # end None: 24:00

    @classmethod
    def from_json(cls, value: object) -> Window:
        """{"days": [0, 1, 2, 3, 4], "hours": [["10:00", "14:00"], ["17:00", "20:00"]]}; raises WindowInvalid."""
        if not isinstance(value, dict):
            raise WindowInvalid("The window must be an object with days and hours.")
        days, hours = value.get("days"), value.get("hours")
        if not isinstance(days, list) or not days or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            raise WindowInvalid("days must be a non-empty list of weekdays, 0 (Monday) to 6 (Sunday).")
        if not isinstance(hours, list) or not hours or len(hours) > 12:
            raise WindowInvalid("hours must be a list of 1 to 12 [start, end] ranges such as [\"10:00\", \"14:00\"].")
        ranges = []
        for item in hours:
            if not (isinstance(item, list | tuple) and len(item) == 2 and all(isinstance(h, str) for h in item)):
                raise WindowInvalid(f"{item!r} is not a [start, end] pair of HH:MM times.")
            start, end = (_parse_hour(h) for h in item)
            if start is None or (end is not None and end <= start):
                raise WindowInvalid(f"{item[0]}-{item[1]}: the start must come before the end.")
            ranges.append((start, end))
        return cls(days=frozenset(days), hours=tuple(sorted(ranges)))

    def to_json(self) -> dict:
        return {"days": sorted(self.days),
                "hours": [[start.strftime("%H:%M"), end.strftime("%H:%M") if end else "24:00"]
                          for start, end in self.hours]}

    def describe(self, *, day_names: Sequence[str] = DAY_NAMES, joiner: str = "and") -> str:
        days = ", ".join(str(day_names[d]) for d in sorted(self.days))
        return f"{days} {f' {joiner} '.join('-'.join(pair) for pair in self.to_json()['hours'])}"

    def holds_locally(self, local: datetime) -> bool:
        clock = local.time().replace(tzinfo=None)
        return local.weekday() in self.days and any(
            start <= clock and (end is None or clock < end) for start, end in self.hours
        )


DEFAULT_WINDOW = {"days": [0, 1, 2, 3, 4], "hours": [["10:00", "14:00"], ["17:00", "20:00"]]}


def _parse_hour(text: str) -> time | None:
    if not _HOUR.match(text):
        raise WindowInvalid(f"{text!r} is not an HH:MM time (00:00 to 24:00).")
    if text == "24:00":
        return None
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def zone_infos(zones: Iterable[str]) -> tuple[ZoneInfo, ...]:
    """The ZoneInfo of each name; raises WindowInvalid for an unknown name."""
    found = []
    for name in zones:
        try:
            found.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise WindowInvalid(f"{name!r} is not a time zone (use names like Europe/Madrid).") from None
    return tuple(found)


def zones_for_number(e164: str, *, fallback: str) -> tuple[str, ...]:
    """The time zones a number may ring in, from its prefix; `fallback` when phonenumbers does not know."""
    try:
        zones = phone_time_zones.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        zones = ()
    zones = tuple(sorted(zone for zone in zones if zone != UNKNOWN_ZONE))
    return zones or (fallback,)


def is_open(window: Window, zones: Sequence[str], at: datetime) -> bool:
    """Whether `at` (aware) falls inside `window` on the wall clock of every zone in `zones`."""
    return all(window.holds_locally(at.astimezone(zone)) for zone in zone_infos(zones))


def next_open(window: Window, zones: Sequence[str], after: datetime) -> datetime | None:
    """The first instant at or after `after` (aware) when the window holds in every zone; None when it never does.

    The window's open stretches in each zone are unions of intervals, so their intersection starts either at
    `after` or at the start of one zone's interval: those are the only instants tried.
    """
    infos = zone_infos(zones)
    after = after.astimezone(UTC)
    candidates = {after}
    for zone in infos:
        first_day = after.astimezone(zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS + 1):
            day = first_day + timedelta(days=offset)
            if day.weekday() in window.days:
                candidates.update(_starts(window, zone, day, after))
    for candidate in sorted(candidates):
        if all(window.holds_locally(candidate.astimezone(zone)) for zone in infos):
            return candidate
    return None


def _starts(window: Window, zone: ZoneInfo, day: date, after: datetime) -> Iterable[datetime]:
    for start, _ in window.hours:
        instant = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        # A start that does not exist on a spring-forward day (02:30) lands an hour later: still a candidate.
        if instant >= after:
            yield instant
