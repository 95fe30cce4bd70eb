"""campaigns.windows: a window read on the callee's clock, in every zone of the number, across DST changes."""
from datetime import UTC, datetime

import pytest

from campaigns.windows import Window, WindowInvalid, is_open, next_open, zones_for_number

TEN_TO_TWO = Window.from_json({"days": [0, 1, 2, 3, 4, 5, 6], "hours": [["10:00", "14:00"]]})
MADRID = zones_for_number("+34910000000", fallback="UTC")
NEW_YORK = zones_for_number("+12125550123", fallback="UTC")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_zones_come_from_the_number():
    assert MADRID == ("Europe/Madrid",)
    assert NEW_YORK == ("America/New_York",)
    assert zones_for_number("+34600123456", fallback="UTC") == ("Atlantic/Canary", "Europe/Madrid")
    assert zones_for_number("+447700900123", fallback="Europe/London") == ("Europe/London",)  # prefix says nothing


def test_one_window_opens_at_ten_local_in_madrid_and_in_new_york():
    after = utc(2026, 6, 15, 0, 0)  # a summer Monday: Madrid is UTC+2, New York UTC-4
    assert next_open(TEN_TO_TWO, MADRID, after) == utc(2026, 6, 15, 8, 0)
    assert next_open(TEN_TO_TWO, NEW_YORK, after) == utc(2026, 6, 15, 14, 0)
    assert is_open(TEN_TO_TWO, MADRID, utc(2026, 6, 15, 11, 59)) and not is_open(TEN_TO_TWO, MADRID, utc(2026, 6, 15, 12, 0))
    assert not is_open(TEN_TO_TWO, NEW_YORK, utc(2026, 6, 15, 12, 0))


def test_inside_the_window_it_is_open_now_and_past_it_the_next_day():
    assert next_open(TEN_TO_TWO, MADRID, utc(2026, 6, 15, 9, 30)) == utc(2026, 6, 15, 9, 30)
    assert next_open(TEN_TO_TWO, MADRID, utc(2026, 6, 15, 12, 0)) == utc(2026, 6, 16, 8, 0)


def test_the_window_follows_madrid_across_its_dst_change():
    # 2026-10-25: Madrid goes from UTC+2 back to UTC+1 at 03:00 local.
    assert next_open(TEN_TO_TWO, MADRID, utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 9, 0)
    assert next_open(TEN_TO_TWO, MADRID, utc(2026, 10, 23, 12, 0)) == utc(2026, 10, 24, 8, 0)
    assert is_open(TEN_TO_TWO, MADRID, utc(2026, 10, 25, 12, 30))  # 13:30 local, open
    assert not is_open(TEN_TO_TWO, MADRID, utc(2026, 10, 25, 13, 0))  # 14:00 local, closed


def test_the_window_follows_new_york_across_its_dst_change():
    # 2026-11-01: New York goes from UTC-4 back to UTC-5; Madrid changed a week earlier.
    assert next_open(TEN_TO_TWO, NEW_YORK, utc(2026, 10, 31, 19, 0)) == utc(2026, 11, 1, 15, 0)
    assert next_open(TEN_TO_TWO, NEW_YORK, utc(2026, 10, 30, 19, 0)) == utc(2026, 10, 31, 14, 0)


def test_a_number_over_two_zones_is_called_only_when_the_window_holds_in_both():
    # Spanish mobile: Madrid and the Canaries (an hour behind) -> 10:00-14:00 in both is 11:00-14:00 Madrid time.
    mobile = zones_for_number("+34600123456", fallback="UTC")
    assert next_open(TEN_TO_TWO, mobile, utc(2026, 6, 15, 0, 0)) == utc(2026, 6, 15, 9, 0)
    assert not is_open(TEN_TO_TWO, mobile, utc(2026, 6, 15, 8, 30))  # 10:30 Madrid, 09:30 Canaries


def test_zones_whose_windows_never_meet_give_none():
    assert next_open(TEN_TO_TWO, ("Pacific/Honolulu", "Pacific/Guam"), utc(2026, 6, 15, 0, 0)) is None


def test_weekdays_and_two_ranges():
    window = Window.from_json({"days": [0, 1, 2, 3, 4], "hours": [["10:00", "14:00"], ["17:00", "20:00"]]})
    friday_evening = utc(2026, 6, 19, 18, 30)  # 20:30 in Madrid: closed until Monday 10:00
    assert next_open(window, MADRID, friday_evening) == utc(2026, 6, 22, 8, 0)
    assert next_open(window, MADRID, utc(2026, 6, 15, 12, 30)) == utc(2026, 6, 15, 15, 0)


def test_a_window_to_midnight():
    window = Window.from_json({"days": [0], "hours": [["22:00", "24:00"]]})
    assert is_open(window, ("UTC",), utc(2026, 6, 15, 23, 59))
    assert not is_open(window, ("UTC",), utc(2026, 6, 16, 0, 0))


@pytest.mark.parametrize("value, words", [
    ({"days": [], "hours": [["10:00", "14:00"]]}, "days"),
    ({"days": [7], "hours": [["10:00", "14:00"]]}, "days"),
    ({"days": [0], "hours": []}, "hours"),
    ({"days": [0], "hours": [["14:00", "10:00"]]}, "start must come before"),
    ({"days": [0], "hours": [["10", "14:00"]]}, "HH:MM"),
    ({"days": [0], "hours": [["25:00", "26:00"]]}, "HH:MM"),
    ("Mon-Fri", "object"),
])
def test_a_bad_window_is_refused_with_the_reason(value, words):
    with pytest.raises(WindowInvalid, match=words):
        Window.from_json(value)


def test_a_window_reads_back_as_written():
    value = {"days": [0, 4], "hours": [["10:00", "14:00"], ["17:00", "24:00"]]}
    assert Window.from_json(value).to_json() == value
    assert Window.from_json(value).describe() == "Mon, Fri 10:00-14:00 and 17:00-24:00"
