"""The business calendar: when a shop answers customers, and business-time arithmetic.

A shop is open during its weekly hours (default Mon–Fri 09:00–18:00, Asia/Seoul) except on
Korean public holidays (the `holidays` package: lunar holidays such as 설날 and 추석,
substitute holidays 대체공휴일 and election days included) and on extra closed days.
SLA targets are business time: `add_business_time` gives a due instant that skips nights,
weekends and holidays; `business_time_between` counts the open time between two instants;
`SlaClock` pauses while a conversation waits on the customer and resumes when they answer.

Configuration from the environment (`BusinessCalendar.from_env()`):
- `INBOX_TIMEZONE`: an IANA zone (default `Asia/Seoul`).
- `INBOX_BUSINESS_HOURS`: `;`-separated clauses `<days> <ranges>`, e.g.
  `mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00` (days `mon`…`sun`, ranges and lists
  allowed; `24:00` ends a day; a day not named is closed).
- `INBOX_CLOSED_DAYS`: comma-separated ISO dates or ranges (`2025-12-31, 2026-08-03..2026-08-07`).

All instants given must be timezone-aware; results are aware UTC. Open ranges are half-open
`[start, end)`; a due instant computed for a positive target always lies in `(start, end]`
of an open range, i.e. the business time just before it is open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DEFAULT_TIMEZONE: Final = "Asia/Seoul"
DEFAULT_BUSINESS_HOURS: Final = "mon-fri 09:00-18:00"
DEFAULT_COUNTRY: Final = "KR"
ENV_TIMEZONE: Final = "INBOX_TIMEZONE"
ENV_BUSINESS_HOURS: Final = "INBOX_BUSINESS_HOURS"
ENV_CLOSED_DAYS: Final = "INBOX_CLOSED_DAYS"
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# More closed days than this in a row means the calendar never opens (a configuration error).
MAX_CLOSED_STREAK: Final = 400
MINUTES_PER_DAY: Final = 24 * 60

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
ZERO: Final = timedelta(0)

# Per weekday (Monday first), the open ranges as minutes since local midnight, sorted.
WeeklyHours = tuple[tuple[tuple[int, int], ...], ...]
OpenRange = tuple[datetime, datetime]


class CalendarError(ValueError):
    """The business calendar configuration cannot be used; the message says what and where."""


def _minutes(hours: str, minutes: str, clause: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        raise CalendarError(f"business hours {clause!r}: {hours}:{minutes} is not a time of day")
    return h * 60 + m


def _days(spec: str, clause: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        first, _, last = part.strip().lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise CalendarError(
                f"business hours {clause!r}: unknown day {part.strip()!r} "
                f"(use {', '.join(WEEKDAYS)} or a range like mon-fri)"
            )
        start = WEEKDAYS.index(first)
        end = WEEKDAYS.index(last) if last else start
        span = (end - start) % 7
        days.extend((start + i) % 7 for i in range(span + 1))
    return days


def parse_business_hours(spec: str) -> WeeklyHours:
    """`'mon-fri 09:00-18:00; sat 10:00-14:00'` → open ranges per weekday (Monday first)."""
    week: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    for raw_clause in spec.split(";"):
        clause = raw_clause.strip()
        if not clause:
            continue
        days_spec, _, ranges_spec = clause.partition(" ")
        if not ranges_spec.strip():
            raise CalendarError(
                f"business hours {clause!r}: expected '<days> <HH:MM-HH:MM>', "
                "e.g. 'mon-fri 09:00-18:00'"
            )
        ranges: list[tuple[int, int]] = []
        for raw_range in ranges_spec.replace(" ", "").split(","):
            match = _RANGE.match(raw_range)
            if not match:
                raise CalendarError(f"business hours {clause!r}: {raw_range!r} is not HH:MM-HH:MM")
            start = _minutes(match[1], match[2], clause)
            end = _minutes(match[3], match[4], clause)
            if end <= start:
                raise CalendarError(
                    f"business hours {clause!r}: {raw_range!r} ends before it starts"
                )
            ranges.append((start, end))
        for day in _days(days_spec, clause):
            week[day].extend(ranges)
    result: list[tuple[tuple[int, int], ...]] = []
    for day_name, ranges in zip(WEEKDAYS, week, strict=True):
        ranges.sort()
        for (_, end), (next_start, _) in pairwise(ranges):
            if next_start < end:
                raise CalendarError(f"business hours {spec!r}: ranges overlap on {day_name}")
        result.append(tuple(ranges))
    if not any(result):
        raise CalendarError(f"business hours {spec!r}: the shop is never open")
    return tuple(result)


def parse_closed_days(spec: str) -> frozenset[date]:
    """`'2025-12-31, 2026-08-03..2026-08-07'` → the set of those dates."""
    days: set[date] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        first, sep, last = item.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError as err:
            raise CalendarError(f"closed days: {item!r} is not an ISO date or date..date") from err
        if end < start:
            raise CalendarError(f"closed days: {item!r} ends before it starts")
        days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return frozenset(days)


def _aware(at: datetime, name: str = "instant") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return at.astimezone(UTC)


class BusinessCalendar:
    """Open hours of a shop. Immutable; safe to share between tasks."""

    def __init__(
        self,
        *,
        timezone: str = DEFAULT_TIMEZONE,
        hours: str | WeeklyHours = DEFAULT_BUSINESS_HOURS,
        closed_days: Iterable[date] = (),
        country: str | None = DEFAULT_COUNTRY,
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise CalendarError(f"unknown time zone {timezone!r}") from err
        self.timezone = timezone
        self.weekly: WeeklyHours = parse_business_hours(hours) if isinstance(hours, str) else hours
        if len(self.weekly) != 7 or not any(self.weekly):
            raise CalendarError("weekly hours need 7 days and at least one open range")
        self.closed_days = frozenset(closed_days)
        self.country = country
        self._holidays = (
            holidays.country_holidays(country, language="ko") if country is not None else None
        )
        self._ranges_of = lru_cache(maxsize=4096)(self._compute_ranges)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BusinessCalendar:
        """From `INBOX_TIMEZONE`, `INBOX_BUSINESS_HOURS`, `INBOX_CLOSED_DAYS` (empty = unset)."""
        env = os.environ if environ is None else environ
        return cls(
            timezone=env.get(ENV_TIMEZONE) or DEFAULT_TIMEZONE,
            hours=env.get(ENV_BUSINESS_HOURS) or DEFAULT_BUSINESS_HOURS,
            closed_days=parse_closed_days(env.get(ENV_CLOSED_DAYS) or ""),
        )

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(timezone={self.timezone!r}, country={self.country!r}, "
            f"closed_days={len(self.closed_days)})"
        )

    # --- days -------------------------------------------------------------------------------

    def local_date(self, at: datetime) -> date:
        return _aware(at).astimezone(self.tz).date()

    def holiday_name(self, day: date) -> str | None:
        """The public holiday on `day` (Korean name), if any."""
        if self._holidays is None:
            return None
        name = self._holidays.get(day)
        return str(name) if name else None

    def closed_reason(self, day: date) -> str | None:
        """Why the shop is closed all of `day`, or None when it has open hours that day."""
        if day in self.closed_days:
            return "closed day"
        holiday = self.holiday_name(day)
        if holiday:
            return f"public holiday: {holiday}"
        if not self.weekly[day.weekday()]:
            return f"no hours on {WEEKDAYS[day.weekday()]}"
        return None

    def is_business_day(self, day: date) -> bool:
        return self.closed_reason(day) is None

    def _compute_ranges(self, day: date) -> tuple[OpenRange, ...]:
        if not self.is_business_day(day):
            return ()
        ranges: list[OpenRange] = []
        for start, end in self.weekly[day.weekday()]:
            ranges.append((self._at(day, start), self._at(day, end)))
        return tuple(ranges)

    def _at(self, day: date, minutes: int) -> datetime:
        if minutes >= MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), minutes - MINUTES_PER_DAY
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.tz)
        return local.astimezone(UTC)

    def open_ranges(self, day: date) -> tuple[OpenRange, ...]:
        """The open ranges of a local day as aware UTC `[start, end)` pairs (empty if closed)."""
        return self._ranges_of(day)

    def _ranges_from(self, at: datetime) -> Iterator[OpenRange]:
        """Every open range that ends after `at`, in order (raises if the shop never opens)."""
        day = self.local_date(at)
        closed_streak = 0
        while True:
            ranges = self._ranges_of(day)
            closed_streak = 0 if ranges else closed_streak + 1
            if closed_streak > MAX_CLOSED_STREAK:
                raise CalendarError(f"no open hours in the {MAX_CLOSED_STREAK} days before {day}")
            for start, end in ranges:
                if end > at:
                    yield start, end
            day += timedelta(days=1)

    # --- instants ---------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        at = _aware(at)
        return any(start <= at < end for start, end in self._ranges_of(self.local_date(at)))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the start of the next open range."""
        at = _aware(at)
        start, _ = next(self._ranges_from(at))
        return max(start, at)

    def add_business_time(self, start: datetime, delta: timedelta) -> datetime:
        """The instant at which `delta` of business time has passed since `start`."""
        start = _aware(start, "start")
        if delta < ZERO:
            raise ValueError("business time to add must not be negative")
        if delta == ZERO:
            return start
        remaining = delta
        for range_start, range_end in self._ranges_from(start):
            begin = max(range_start, start)
            available = range_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: _ranges_from never ends")  # pragma: no cover

    def add_business_minutes(self, start: datetime, minutes: float) -> datetime:
        return self.add_business_time(start, timedelta(minutes=minutes))

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Open time in `[start, end)`; zero when `end` is not after `start`."""
        start, end = _aware(start, "start"), _aware(end, "end")
        total = ZERO
        if end <= start:
            return total
        day, last = self.local_date(start), self.local_date(end)
        while day <= last:
            for range_start, range_end in self._ranges_of(day):
                overlap = min(range_end, end) - max(range_start, start)
                if overlap > ZERO:
                    total += overlap
            day += timedelta(days=1)
        return total

    def business_minutes_between(self, start: datetime, end: datetime) -> float:
        return self.business_time_between(start, end) / timedelta(minutes=1)


@dataclass(frozen=True)
class SlaClock:
    """A business-time clock toward a target that pauses and resumes.

    `elapsed` is the business time counted before `running_since`; a paused clock has
    `running_since=None`. Pausing and resuming conserve the elapsed business time, so the due
    instant moves by exactly the business time spent paused.
    """

    target: timedelta
    elapsed: timedelta = ZERO
    running_since: datetime | None = None

    @classmethod
    def start(cls, at: datetime, target: timedelta) -> SlaClock:
        if target <= ZERO:
            raise ValueError("an SLA target must be positive")
        return cls(target=target, running_since=_aware(at))

    @property
    def paused(self) -> bool:
        return self.running_since is None

    def elapsed_at(self, at: datetime, calendar: BusinessCalendar) -> timedelta:
        if self.running_since is None:
            return self.elapsed
        return self.elapsed + calendar.business_time_between(self.running_since, at)

    def pause(self, at: datetime, calendar: BusinessCalendar) -> SlaClock:
        if self.running_since is None:
            return self
        return replace(self, elapsed=self.elapsed_at(at, calendar), running_since=None)

    def resume(self, at: datetime) -> SlaClock:
        if self.running_since is not None:
            return self
        return replace(self, running_since=_aware(at))

    def due(self, calendar: BusinessCalendar) -> datetime | None:
        """When the target is reached; None while paused. A clock already past its target
        before the pause is due at once when it resumes."""
        if self.running_since is None:
            return None
        remaining = max(self.target - self.elapsed, ZERO)
        return calendar.add_business_time(self.running_since, remaining)
