"""Properties of business-time arithmetic (hypothesis); regressions pinned with @example."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from inbox_core.calendar import BusinessCalendar, SlaClock

SEOUL = ZoneInfo("Asia/Seoul")
TICK = timedelta(microseconds=1)

CALENDARS = {
    "default": BusinessCalendar(),
    "lunch-and-saturday": BusinessCalendar(
        hours="mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00",
        closed_days=[date(2025, 12, 31), *(date(2026, 8, d) for d in range(3, 8))],
    ),
    "night-shift": BusinessCalendar(hours="mon-fri 00:00-02:00,20:00-24:00"),
}

calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
# Business durations from one second to two business weeks, down to the microsecond.
durations = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=80))


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=instants, delta=durations)
@example(cal=CALENDARS["default"], start=kst(2025, 9, 30, 18, 0), delta=timedelta(hours=9))
@example(cal=CALENDARS["default"], start=kst(2025, 10, 2, 17, 0), delta=timedelta(hours=1))
@example(cal=CALENDARS["default"], start=kst(2025, 10, 4, 12, 0), delta=TICK)
@example(cal=CALENDARS["night-shift"], start=kst(2025, 9, 30, 23, 59), delta=timedelta(minutes=2))
def test_due_is_never_inside_closed_time(
    cal: BusinessCalendar, start: datetime, delta: timedelta
) -> None:
    due = cal.add_business_time(start, delta)
    assert due > start
    # The instant just before the due time is open: due lies in (open start, open end].
    assert cal.business_time_between(due - TICK, due) == TICK
    assert cal.business_time_between(start, due) == delta


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=instants, a=durations, b=durations)
@example(cal=CALENDARS["default"], start=kst(2025, 9, 30, 17, 0), a=timedelta(hours=1), b=TICK)
def test_adding_more_business_time_never_gives_an_earlier_due(
    cal: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    shorter, longer = sorted((a, b))
    assert cal.add_business_time(start, shorter) <= cal.add_business_time(start, longer)


@settings(max_examples=300, deadline=None)
@given(cal=calendars, first=instants, second=instants, delta=durations)
@example(
    cal=CALENDARS["default"],
    first=kst(2025, 10, 3, 10, 0),
    second=kst(2025, 10, 10, 8, 0),
    delta=timedelta(hours=1),
)
def test_a_later_start_never_gives_an_earlier_due(
    cal: BusinessCalendar, first: datetime, second: datetime, delta: timedelta
) -> None:
    early, late = sorted((first, second))
    assert cal.add_business_time(early, delta) <= cal.add_business_time(late, delta)


@settings(max_examples=200, deadline=None)
@given(cal=calendars, points=st.lists(instants, min_size=3, max_size=3))
def test_business_time_adds_up_over_consecutive_spans(
    cal: BusinessCalendar, points: list[datetime]
) -> None:
    a, b, c = sorted(points)
    whole = cal.business_time_between(a, c)
    assert whole == cal.business_time_between(a, b) + cal.business_time_between(b, c)


@settings(max_examples=200, deadline=None)
@given(cal=calendars, at=instants)
@example(cal=CALENDARS["default"], at=kst(2025, 9, 30, 18, 0))
@example(cal=CALENDARS["lunch-and-saturday"], at=kst(2025, 9, 30, 12, 0))
def test_next_open_is_open_and_nothing_before_it_is(cal: BusinessCalendar, at: datetime) -> None:
    opened = cal.next_open(at)
    assert opened >= at
    assert cal.is_open(opened)
    assert cal.business_time_between(at, opened) == timedelta(0)
    assert cal.is_open(at) == (cal.business_time_between(at, at + TICK) == TICK)


@settings(max_examples=300, deadline=None)
@given(
    cal=calendars,
    started=instants,
    running=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
    waiting=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    target=durations,
)
@example(
    cal=CALENDARS["default"],
    started=kst(2025, 9, 30, 16, 0),
    running=timedelta(hours=1),
    waiting=timedelta(days=1, hours=23),
    target=timedelta(hours=4),
)
@example(
    cal=CALENDARS["default"],
    started=kst(2025, 9, 30, 9, 0),
    running=timedelta(hours=9),
    waiting=timedelta(hours=1),
    target=timedelta(hours=9),
)
def test_pause_and_resume_conserve_elapsed_business_time(
    cal: BusinessCalendar,
    started: datetime,
    running: timedelta,
    waiting: timedelta,
    target: timedelta,
) -> None:
    paused_at = started + running
    resumed_at = paused_at + waiting
    clock = SlaClock.start(started, target).pause(paused_at, cal).resume(resumed_at)
    used = cal.business_time_between(started, paused_at)
    assert clock.elapsed == used
    due = clock.due(cal)
    assert due is not None and due >= resumed_at
    if used < target:
        assert used + cal.business_time_between(resumed_at, due) == target
        # Waiting on the customer only moves the due time later, never earlier.
        assert due >= cal.add_business_time(started, target)
    else:
        assert due == resumed_at
