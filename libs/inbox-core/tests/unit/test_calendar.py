"""The business calendar: hours, Korean holidays, closed days and business-time arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from inbox_core.calendar import (
    BusinessCalendar,
    CalendarError,
    SlaClock,
    parse_business_hours,
    parse_closed_days,
)

SEOUL = ZoneInfo("Asia/Seoul")
CAL = BusinessCalendar()


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mon-fri 09:00-18:00", [((540, 1080),)] * 5 + [(), ()]),
        (
            "mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00",
            [((540, 720), (780, 1080))] * 5 + [((600, 840),), ()],
        ),
        ("sat-mon 00:00-24:00", [((0, 1440),), (), (), (), (), ((0, 1440),), ((0, 1440),)]),
        ("MON,wed 9:30-17:00", [((570, 1020),), (), ((570, 1020),), (), (), (), ()]),
    ],
    ids=["weekdays", "lunch-break-and-saturday", "wrapping-range-full-days", "list-and-case"],
)
def test_business_hours_parse_into_weekly_ranges(
    spec: str, expected: list[tuple[tuple[int, int], ...]]
) -> None:
    assert list(parse_business_hours(spec)) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mon-fri", "expected '<days> <HH:MM-HH:MM>'"),
        ("mo-fr 09:00-18:00", "unknown day 'mo-fr'"),
        ("mon-fri 9-18", "'9-18' is not HH:MM-HH:MM"),
        ("mon 18:00-09:00", "ends before it starts"),
        ("mon 25:00-26:00", "not a time of day"),
        ("mon 09:00-13:00,12:00-18:00", "overlap on mon"),
        ("", "never open"),
    ],
    ids=["no-ranges", "unknown-day", "bad-range", "backwards", "bad-time", "overlap", "empty"],
)
def test_bad_business_hours_are_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_business_hours(spec)


def test_closed_days_accept_dates_and_ranges() -> None:
    days = parse_closed_days("2025-12-31, 2026-08-03..2026-08-05,")
    assert days == {date(2025, 12, 31), date(2026, 8, 3), date(2026, 8, 4), date(2026, 8, 5)}


@pytest.mark.parametrize(
    "spec", ["2025-13-01", "yesterday", "2026-08-05..2026-08-01"], ids=["month", "word", "reversed"]
)
def test_bad_closed_days_are_a_clear_error(spec: str) -> None:
    with pytest.raises(CalendarError, match="closed days"):
        parse_closed_days(spec)


def test_calendar_reads_its_environment() -> None:
    cal = BusinessCalendar.from_env(
        {
            "INBOX_TIMEZONE": "Asia/Tokyo",
            "INBOX_BUSINESS_HOURS": "mon-sat 10:00-19:00",
            "INBOX_CLOSED_DAYS": "2026-07-31",
        }
    )
    assert cal.timezone == "Asia/Tokyo"
    assert cal.weekly[5] == ((600, 1140),)
    assert not cal.is_business_day(date(2026, 7, 31))


def test_calendar_defaults_when_environment_is_empty() -> None:
    cal = BusinessCalendar.from_env(
        {"INBOX_TIMEZONE": "", "INBOX_BUSINESS_HOURS": "", "INBOX_CLOSED_DAYS": ""}
    )
    assert cal.timezone == "Asia/Seoul"
    assert cal.weekly == parse_business_hours("mon-fri 09:00-18:00")


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match="unknown time zone 'Asia/Busan'"):
        BusinessCalendar(timezone="Asia/Busan")


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2025, 10, 6), "추석"),  # lunar holiday
        (date(2025, 10, 8), "대체"),  # substitute holiday for 추석 overlapping a Sunday
        (date(2025, 3, 3), "대체"),  # substitute for 삼일절 on a Saturday
        (date(2025, 1, 29), "설날"),  # lunar new year
        (date(2025, 6, 3), "선거"),  # presidential election day
        (date(2025, 5, 5), "어린이날"),
        (date(2025, 10, 11), "no hours on sat"),
    ],
    ids=["chuseok", "chuseok-substitute", "samiljeol-substitute", "seollal", "election",
         "childrens-day", "saturday"],
)  # fmt: skip
def test_korean_holidays_and_weekends_are_closed(day: date, reason: str) -> None:
    closed = CAL.closed_reason(day)
    assert closed is not None and reason in closed
    assert CAL.open_ranges(day) == ()


def test_ordinary_weekday_is_open_during_hours_only() -> None:
    assert CAL.closed_reason(date(2025, 10, 2)) is None
    assert not CAL.is_open(kst(2025, 10, 2, 8, 59))
    assert CAL.is_open(kst(2025, 10, 2, 9, 0))
    assert CAL.is_open(kst(2025, 10, 2, 17, 59, 59))
    assert not CAL.is_open(kst(2025, 10, 2, 18, 0))


def test_extra_closed_day_is_closed() -> None:
    cal = BusinessCalendar(closed_days=[date(2025, 10, 2)])
    assert cal.closed_reason(date(2025, 10, 2)) == "closed day"
    assert cal.next_open(kst(2025, 10, 1, 18, 30)) == kst(2025, 10, 10, 9)


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        (kst(2025, 9, 30, 10, 0), 60, kst(2025, 9, 30, 11, 0)),
        (kst(2025, 9, 30, 17, 30), 60, kst(2025, 10, 1, 9, 30)),
        (kst(2025, 9, 30, 22, 0), 480, kst(2025, 10, 1, 17, 0)),
        (kst(2025, 9, 26, 16, 0), 240, kst(2025, 9, 29, 11, 0)),
        (kst(2025, 10, 2, 17, 0), 120, kst(2025, 10, 10, 10, 0)),
        (kst(2025, 9, 30, 9, 0), 540, kst(2025, 9, 30, 18, 0)),
        (kst(2025, 10, 4, 12, 0), 60, kst(2025, 10, 10, 10, 0)),
    ],
    ids=["same-day", "over-night", "from-night", "over-weekend", "over-chuseok-week",
         "ends-at-closing", "from-saturday-over-holidays"],
)  # fmt: skip
def test_due_skips_nights_weekends_and_holidays(
    start: datetime, minutes: int, due: datetime
) -> None:
    got = CAL.add_business_minutes(start, minutes)
    assert got == due
    assert got.tzinfo == UTC
    assert CAL.business_minutes_between(start, got) == minutes


def test_lunch_break_is_not_business_time() -> None:
    cal = BusinessCalendar(hours="mon-fri 09:00-12:00,13:00-18:00")
    assert cal.add_business_minutes(kst(2025, 9, 30, 11, 30), 60) == kst(2025, 9, 30, 13, 30)
    assert cal.business_minutes_between(kst(2025, 9, 30, 11, 0), kst(2025, 9, 30, 14, 0)) == 120
    assert not cal.is_open(kst(2025, 9, 30, 12, 30))


def test_business_time_between_is_zero_when_end_is_not_later() -> None:
    assert CAL.business_time_between(kst(2025, 9, 30, 12), kst(2025, 9, 30, 10)) == timedelta(0)
    assert CAL.business_minutes_between(kst(2025, 10, 4, 0), kst(2025, 10, 9, 23)) == 0


def test_next_open_is_the_instant_itself_when_open() -> None:
    assert CAL.next_open(kst(2025, 9, 30, 10, 15)) == kst(2025, 9, 30, 10, 15)
    assert CAL.next_open(kst(2025, 9, 30, 18, 0)) == kst(2025, 10, 1, 9, 0)


def test_adding_zero_business_time_returns_the_start() -> None:
    assert CAL.add_business_minutes(kst(2025, 10, 4, 3), 0) == kst(2025, 10, 4, 3)


def test_negative_business_time_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_business_minutes(kst(2025, 9, 30, 10), -1)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.is_open(datetime(2025, 9, 30, 10))


def test_calendar_closed_for_ever_is_an_error_not_a_hang() -> None:
    start = date(2030, 1, 1)
    cal = BusinessCalendar(closed_days=[start + timedelta(days=i) for i in range(800)])
    with pytest.raises(CalendarError, match="no open hours"):
        cal.add_business_minutes(kst(2030, 1, 1, 10), 60)


def test_full_day_hours_end_at_midnight() -> None:
    cal = BusinessCalendar(hours="mon-sun 00:00-24:00", country=None)
    start = kst(2025, 10, 3, 23, 30)
    assert cal.add_business_minutes(start, 60) == kst(2025, 10, 4, 0, 30)


def test_calendar_in_a_zone_with_daylight_saving() -> None:
    cal = BusinessCalendar(timezone="Europe/Berlin", hours="mon-sun 00:00-24:00", country=None)
    # 2025-03-30: clocks jump from 02:00 to 03:00, so that local day has 23 hours.
    day_start = datetime(2025, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    next_day = datetime(2025, 3, 31, tzinfo=ZoneInfo("Europe/Berlin"))
    assert cal.business_time_between(day_start, next_day) == timedelta(hours=23)


def test_sla_clock_pauses_while_pending_and_resumes() -> None:
    clock = SlaClock.start(kst(2025, 9, 30, 16, 0), timedelta(hours=4))
    assert clock.due(CAL) == kst(2025, 10, 1, 11, 0)
    paused = clock.pause(kst(2025, 9, 30, 17, 0), CAL)  # one business hour used
    assert paused.paused and paused.due(CAL) is None
    assert paused.elapsed == timedelta(hours=1)
    resumed = paused.resume(kst(2025, 10, 2, 16, 0))  # the customer answers two days later
    assert resumed.due(CAL) == kst(2025, 10, 10, 10, 0)  # 2 h on the 2nd, holidays, 1 h on the 10th


def test_sla_clock_past_its_target_is_due_when_it_resumes() -> None:
    clock = SlaClock.start(kst(2025, 9, 30, 9, 0), timedelta(hours=1))
    paused = clock.pause(kst(2025, 9, 30, 15, 0), CAL)
    assert paused.resume(kst(2025, 10, 1, 10, 0)).due(CAL) == kst(2025, 10, 1, 10, 0)


def test_sla_clock_needs_a_positive_target() -> None:
    with pytest.raises(ValueError, match="positive"):
        SlaClock.start(kst(2025, 9, 30, 9, 0), timedelta(0))
