"""SLA clocks of a conversation: which deadline is running, pausing while pending, stopping
on the first response, and the warning/breach timers (exactly once per deadline).

The conversation document keeps the state, so timers survive restarts:
`sla.first_response_due`, `sla.next_response_due`, `sla.first_response_at`,
`sla.paused_remaining_s`, and the active `sla_deadline`, `sla_warn_at`, `sort_due`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from inbox_core.calendar import BusinessCalendar

NO_DUE: Final = datetime(9999, 12, 31, tzinfo=UTC)  # sorts after every real due time


class Clock(Protocol):
    """How SLA time is counted between two instants."""

    def add_minutes(self, start: datetime, minutes: float) -> datetime: ...

    def minutes_between(self, start: datetime, end: datetime) -> float: ...


class WallClock:
    """Calendar time (tests, or a shop that answers around the clock)."""

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return (end - start).total_seconds() / 60


class BusinessClock:
    """Business time of the shop's calendar (INBOX_BUSINESS_HOURS, Korean holidays, closed
    days): the same calendar the router used for the first due time."""

    def __init__(self, calendar: BusinessCalendar | None = None) -> None:
        self.calendar = calendar or BusinessCalendar.from_env()

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return self.calendar.add_business_minutes(start, minutes)

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return self.calendar.business_minutes_between(start, end)


def active_fields(sla: dict[str, Any], now: datetime, warn_ratio: float) -> dict[str, Any]:
    """`sla_deadline`, `sla_warn_at` and `sort_due` for the running deadline, if any."""
    deadline = sla.get("next_response_due") or (
        None if sla.get("first_response_at") else sla.get("first_response_due")
    )
    if deadline is None or sla.get("paused_remaining_s") is not None:
        return {
            "sla_deadline": None,
            "sla_warn_at": None,
            "sla_warn_from": None,
            "sort_due": NO_DUE,
        }
    started = sla.get("clock_started_at") or now
    span = max((deadline - started).total_seconds(), 0.0)
    warn_at = deadline - timedelta(seconds=span * (1 - warn_ratio))
    # sla_warn_at is consumed by the timer when it fires; sla_warn_from stays for the UI.
    return {
        "sla_deadline": deadline,
        "sla_warn_at": warn_at,
        "sla_warn_from": warn_at,
        "sort_due": deadline,
    }


def on_customer_message(sla: dict[str, Any], at: datetime, clock: Clock) -> dict[str, Any]:
    """A customer wrote: after a first response, the next-response clock starts."""
    sla = dict(sla)
    if sla.get("first_response_at") and not sla.get("next_response_due"):
        minutes = sla.get("next_response_minutes") or sla.get("first_response_minutes")
        if minutes:
            sla["next_response_due"] = clock.add_minutes(at, minutes)
            sla["clock_started_at"] = at
            sla["breached"] = False
    return sla


def on_agent_reply(sla: dict[str, Any], at: datetime, by: str | None = None) -> dict[str, Any]:
    """An agent answered: the first-response clock stops, the next-response clock too.
    `by` (the agent, or "bot") is kept for reports."""
    sla = dict(sla)
    if not sla.get("first_response_at"):
        sla["first_response_at"] = at
        if by:
            sla["first_response_by"] = by
    sla["next_response_due"] = None
    sla["breached"] = False
    return sla


def on_pending(sla: dict[str, Any], at: datetime, clock: Clock) -> dict[str, Any]:
    """Waiting on the customer: the running clock pauses, keeping the (business) time left."""
    sla = dict(sla)
    deadline = active_fields(sla, at, 0.8)["sla_deadline"]
    if deadline is not None:
        left = clock.minutes_between(at, deadline) * 60 if deadline > at else 0.0
        sla["paused_remaining_s"] = max(left, 0.0)
    return sla


def on_resume(sla: dict[str, Any], at: datetime, clock: Clock) -> dict[str, Any]:
    """Back to open: the paused clock resumes with the time it had left."""
    sla = dict(sla)
    remaining = sla.pop("paused_remaining_s", None)
    if remaining is not None:
        due = clock.add_minutes(at, remaining / 60)
        key = "next_response_due" if sla.get("next_response_due") else "first_response_due"
        sla[key] = due
        sla["clock_started_at"] = at
    return sla


def on_resolved(sla: dict[str, Any]) -> dict[str, Any]:
    sla = dict(sla)
    sla.pop("paused_remaining_s", None)
    sla["next_response_due"] = None
    if not sla.get("first_response_at"):
        sla["first_response_due"] = None
    return sla
