"""The SLA clocks of a conversation as the notifier runs them (inbox_core.sla): which
deadline runs, pausing, the first response, reopening, a priority change, and the
field-level writes of a transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inbox_core import sla as clock
from inbox_core.schema import Priority

T0 = datetime(2025, 10, 6, 1, 0, tzinfo=UTC)  # any instant: the test clock counts wall time


class Wall:
    """Wall-clock time for the transitions (the service counts business time)."""

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return (end - start).total_seconds() / 60


WALL = Wall()


def _new(hours: float = 8, **extra: Any) -> dict[str, Any]:
    minutes = int(hours * 60)
    return {
        "policy": "normal",
        "first_response_minutes": minutes,
        "next_response_minutes": minutes // 2,
        "first_response_due": T0 + timedelta(minutes=minutes),
        "clock_started_at": T0,
        **extra,
    }


def test_first_response_deadline_runs_with_its_warning_at_the_ratio() -> None:
    active = clock.active_fields(_new(hours=10), T0, warn_ratio=0.8)
    assert active["sla_deadline"] == T0 + timedelta(hours=10)
    assert active["sla_warn_at"] == T0 + timedelta(hours=8)
    assert active["sort_due"] == active["sla_deadline"]


def test_agent_reply_stops_the_first_response_clock_once() -> None:
    answered = clock.on_agent_reply(_new(), T0 + timedelta(hours=1), by="minji")
    assert answered["first_response_at"] == T0 + timedelta(hours=1)
    assert answered["first_response_by"] == "minji"
    again = clock.on_agent_reply(answered, T0 + timedelta(hours=2), by="junho")
    assert (again["first_response_at"], again["first_response_by"]) == (
        T0 + timedelta(hours=1),
        "minji",
    )
    assert clock.active_fields(again, T0, 0.8)["sort_due"] == clock.NO_DUE


def test_customer_message_after_the_first_response_starts_the_next_response_clock() -> None:
    answered = clock.on_agent_reply(_new(hours=8), T0 + timedelta(hours=1))
    at = T0 + timedelta(hours=3)
    follow_up = clock.on_customer_message(answered, at, WALL, arrived_at=at)
    assert follow_up["next_response_due"] == at + timedelta(hours=4)  # next_response_minutes
    assert clock.active_fields(follow_up, at, 0.8)["sla_deadline"] == at + timedelta(hours=4)


def test_customer_message_that_arrived_before_the_first_response_starts_no_clock() -> None:
    """A redelivery of a message the reply answered."""
    answered = clock.on_agent_reply(_new(), T0 + timedelta(hours=1))
    redelivered = clock.on_customer_message(
        answered, T0, WALL, arrived_at=T0 + timedelta(minutes=1)
    )
    assert redelivered == answered


def test_customer_message_before_any_response_changes_nothing() -> None:
    assert clock.on_customer_message(_new(), T0 + timedelta(hours=1), WALL) == _new()


def test_pending_pauses_with_the_time_left_and_resume_gives_it_back() -> None:
    paused = clock.on_pending(_new(hours=8), T0 + timedelta(hours=2), WALL)
    assert paused["paused_remaining_s"] == 6 * 3600
    assert clock.active_fields(paused, T0, 0.8)["sla_deadline"] is None
    back = T0 + timedelta(days=2)
    resumed = clock.on_resume(paused, back, WALL)
    assert "paused_remaining_s" not in resumed
    assert resumed["first_response_due"] == back + timedelta(hours=6)


def test_pending_after_the_deadline_keeps_nothing_left() -> None:
    paused = clock.on_pending(_new(hours=1), T0 + timedelta(hours=3), WALL)
    assert paused["paused_remaining_s"] == 0.0


def test_resolved_without_a_response_drops_the_first_response_due() -> None:
    resolved = clock.on_resolved(_new())
    assert resolved["first_response_due"] is None
    assert clock.active_fields(resolved, T0, 0.8)["sort_due"] == clock.NO_DUE


@pytest.mark.parametrize(
    ("status", "answered", "expect"),
    [
        ("resolved", False, "first_response_due"),
        ("resolved", True, "next_response_due"),
        ("pending", False, "first_response_due"),
    ],
    ids=["resolved-unanswered-restarts-first", "resolved-answered-starts-next", "pending-resumes"],
)
def test_reopen_runs_the_right_clock(status: str, answered: bool, expect: str) -> None:
    sla = _new(hours=8)
    if answered:
        sla = clock.on_agent_reply(sla, T0 + timedelta(minutes=30))
    if status == "pending":
        sla = clock.on_pending(sla, T0 + timedelta(hours=2), WALL)
    else:
        sla = clock.on_resolved(sla)
    at = T0 + timedelta(days=1)
    reopened = clock.on_reopen(sla, status, at, WALL)
    assert clock.active_fields(reopened, at, 0.8)["sla_deadline"] == reopened[expect]
    assert reopened[expect] > at


def test_split_off_conversation_waits_from_now_unless_answered() -> None:
    at = T0 + timedelta(hours=5)
    waiting = clock.on_split(_new(hours=8), answered=False, at=at, clock=WALL)
    assert waiting["first_response_due"] == at + timedelta(hours=8)
    assert "first_response_due" not in clock.on_split(_new(), answered=True, at=at, clock=WALL)


def test_priority_change_keeps_the_time_already_spent() -> None:
    sla = {**_new(hours=8), "priority_minutes": {Priority.URGENT.value: [60, 30]}}
    now = T0 + timedelta(minutes=30)
    changed, problem = clock.sla_for_priority(sla, Priority.URGENT, now, WALL)
    assert problem is None
    # 7.5 h were left; the target shrinks by 7 h: 30 minutes left.
    assert changed["first_response_due"] == now + timedelta(minutes=30)
    assert changed["first_response_minutes"] == 60


def test_priority_change_without_targets_leaves_the_clock() -> None:
    sla = _new()
    changed, problem = clock.sla_for_priority(sla, Priority.HIGH, T0, WALL)
    assert changed == sla
    assert problem is not None and "no targets" in problem


def test_priority_change_never_passes_the_platform_deadline() -> None:
    platform_due = T0 + timedelta(hours=2)
    sla = {
        **_new(hours=1),
        "platform_due": platform_due,
        "priority_minutes": {Priority.LOW.value: [24 * 60, 24 * 60]},
    }
    changed, _ = clock.sla_for_priority(sla, Priority.LOW, T0, WALL)
    assert changed["first_response_due"] == platform_due


def test_changes_are_field_level_and_name_only_what_changed() -> None:
    before = _new()
    after = clock.on_agent_reply(before, T0 + timedelta(hours=1), by="minji")
    assert clock.sla_changes(before, after) == {
        "sla.first_response_at": T0 + timedelta(hours=1),
        "sla.first_response_by": "minji",
        "sla.next_response_due": None,
        "sla.breached": False,
    }


def test_a_dropped_field_is_written_as_none() -> None:
    paused = clock.on_pending(_new(), T0 + timedelta(hours=1), WALL)
    resumed = clock.on_resume(paused, T0 + timedelta(hours=2), WALL)
    changes = clock.sla_changes(paused, resumed)
    assert changes["sla.paused_remaining_s"] is None
    assert "sla.policy" not in changes
