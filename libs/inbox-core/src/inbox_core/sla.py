"""SLA: the one module for it. The router's policies (first- and next-response targets per
priority, optionally per team/channel, and platform deadlines) give a new conversation its
due times; the notifier's clocks run them (which deadline is running, pausing while pending,
stopping on the first response, a priority change, the warning/breach timer fields).

Policies, in the rules file:

    sla:
      urgent: 1h                 # first and next response
      high: {first_response: 4h, next_response: 2h}
      normal: 8h
      low: 24h
      overrides:                 # first match wins, before the per-priority targets
        - {name: kakao-chat, channel: [kakao], priority: [high, normal], first_response: 2h}
      platform_deadlines:        # wall clock: the platform acts itself after this
        - {name: coupang-call-center, channel: [coupang], board: [callcenter], within: 24h}

A number is hours (`urgent: 1`), a string is `30m`, `4h` or `1h30m`. Every target is business
time: "urgent 1h" is one open hour, so an urgent mail on Friday 17:30 is due Monday 09:30.

A platform deadline is wall-clock time (nights and holidays count): where a platform closes or
answers an inquiry itself when the shop has not (Coupang's call-center inquiries after 24 h),
the first response is due at that deadline whenever it is earlier than the business-time target.

Clocks: the conversation document keeps the state, so timers survive restarts:
`sla.first_response_due`, `sla.next_response_due`, `sla.first_response_at`,
`sla.paused_remaining_s`, and the active `sla_deadline`, `sla_warn_at`, `sort_due`. The
transitions (`on_*`) are pure: they take the state read and give the state to write;
`sla_changes` turns the two into field-level `$set`s, so a write touches only the fields
its transition changed.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from inbox_core.calendar import BusinessCalendar
from inbox_core.schema import ConversationStatus, InboundMessage, Priority, SlaState

# --- policies (router) ------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+)m(?:in)?)?$")


def parse_duration(value: object) -> timedelta:
    """`4h`, `30m`, `1h30m`, or a number of hours → a positive timedelta."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, bool):
        raise ValueError("a duration is a number of hours or a string like 30m, 4h, 1h30m")
    elif isinstance(value, int | float):
        duration = timedelta(hours=value)
    elif isinstance(value, str):
        match = _DURATION.match(value.replace(" ", "").lower())
        if not match or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration like 30m, 4h or 1h30m")
        duration = timedelta(hours=float(match[1] or 0), minutes=int(match[2] or 0))
    else:
        raise ValueError("a duration is a number of hours or a string like 30m, 4h, 1h30m")
    if duration <= timedelta(0):
        raise ValueError("a duration must be positive")
    return duration


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def minutes(duration: timedelta) -> int:
    return math.ceil(duration / timedelta(minutes=1))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Targets(_Strict):
    first_response: Duration
    next_response: Duration | None = None  # defaults to first_response

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, int | float | str | timedelta) and not isinstance(value, bool):
            return {"first_response": value}
        return value

    @property
    def next(self) -> timedelta:
        return self.next_response or self.first_response


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class SlaOverride(_Strict):
    name: str = Field(min_length=1)
    team: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    channel: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    priority: Annotated[list[Priority] | None, BeforeValidator(_listify)] = None
    first_response: Duration
    next_response: Duration | None = None

    def applies(self, priority: Priority, team: str, channel: str) -> bool:
        return (
            (self.team is None or team in self.team)
            and (self.channel is None or channel in self.channel)
            and (self.priority is None or priority in self.priority)
        )


class PlatformDeadline(_Strict):
    name: str = Field(min_length=1)
    channel: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    account: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    # The board the connector names in the message context (`context.board`).
    board: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    within: Duration  # wall clock from the message's arrival
    reason: str | None = None  # shown in the routing reasons

    def applies(self, message: InboundMessage) -> bool:
        return (
            (self.channel is None or message.channel in self.channel)
            and (self.account is None or message.account in self.account)
            and (self.board is None or str(message.context.get("board")) in self.board)
        )


COUPANG_CALL_CENTER: Final = PlatformDeadline(
    name="coupang-call-center",
    channel=["coupang"],
    board=["callcenter"],
    within=timedelta(hours=24),
    reason="쿠팡은 24시간 안에 답하지 않은 콜센터 문의를 직접 종료합니다",
)


DEFAULT_TARGETS: Final = {
    Priority.URGENT: timedelta(hours=1),
    Priority.HIGH: timedelta(hours=4),
    Priority.NORMAL: timedelta(hours=8),
    Priority.LOW: timedelta(hours=24),
}


class SlaPolicies(_Strict):
    urgent: Targets = Targets(first_response=DEFAULT_TARGETS[Priority.URGENT])
    high: Targets = Targets(first_response=DEFAULT_TARGETS[Priority.HIGH])
    normal: Targets = Targets(first_response=DEFAULT_TARGETS[Priority.NORMAL])
    low: Targets = Targets(first_response=DEFAULT_TARGETS[Priority.LOW])
    overrides: list[SlaOverride] = Field(default_factory=list)
    platform_deadlines: list[PlatformDeadline] = Field(
        default_factory=lambda: [COUPANG_CALL_CENTER]
    )

    def targets_for(self, priority: Priority, team: str, channel: str) -> tuple[str, Targets]:
        """The policy name and its targets: the first override that applies, else by priority."""
        for override in self.overrides:
            if override.applies(priority, team, channel):
                targets = Targets(
                    first_response=override.first_response, next_response=override.next_response
                )
                return override.name, targets
        by_priority: Targets = getattr(self, priority.value)
        return priority.value, by_priority

    def state(
        self,
        message: InboundMessage,
        priority: Priority,
        team: str,
        calendar: BusinessCalendar,
        *,
        new_conversation: bool,
    ) -> SlaState:
        """Targets in business minutes and due times from the message's arrival.

        A new conversation gets a first-response due time; a message joining an existing one
        gets a next-response due time as well (the notifier knows which one applies).
        """
        policy, targets = self.targets_for(priority, team, message.channel)
        start = message.received_at
        first_due = calendar.add_business_time(start, targets.first_response)
        platform = next((d for d in self.platform_deadlines if d.applies(message)), None)
        platform_due = start + platform.within if platform else None
        platform_reason = None
        if platform is not None and platform_due is not None:
            hours = platform.within.total_seconds() / 3600
            platform_reason = f"platform deadline {platform.name}: {hours:g} h wall clock" + (
                f" ({platform.reason})" if platform.reason else ""
            )
            if platform_due < first_due:
                first_due = platform_due
                policy = f"{policy}+{platform.name}"
        by_priority = {
            p.value: [minutes(t.first_response), minutes(t.next)]
            for p in Priority
            for t in [self.targets_for(p, team, message.channel)[1]]
        }
        return SlaState(
            policy=policy,
            first_response_minutes=minutes(targets.first_response),
            next_response_minutes=minutes(targets.next),
            first_response_due=first_due,
            next_response_due=(
                None if new_conversation else calendar.add_business_time(start, targets.next)
            ),
            priority_minutes=by_priority,
            platform_due=platform_due,
            platform_reason=platform_reason,
        )


# --- clocks of a conversation (notifier) -------------------------------------------------

NO_DUE: Final = datetime(9999, 12, 31, tzinfo=UTC)  # sorts after every real due time


class Clock(Protocol):
    """How SLA time is counted between two instants."""

    def add_minutes(self, start: datetime, minutes: float) -> datetime: ...

    def minutes_between(self, start: datetime, end: datetime) -> float: ...


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


def on_customer_message(
    sla: dict[str, Any], at: datetime, clock: Clock, *, arrived_at: datetime | None = None
) -> dict[str, Any]:
    """A customer wrote (at `at`, the platform's time): after a first response, the
    next-response clock starts. A message that reached us (`arrived_at`, our clock, as the
    first response's) before the first response, e.g. one redelivered, is answered by it."""
    sla = dict(sla)
    answered_at = sla.get("first_response_at")
    if answered_at and arrived_at is not None and arrived_at <= answered_at:
        return sla
    if answered_at and not sla.get("next_response_due"):
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


def sla_for_priority(
    sla: dict[str, Any], priority: Priority, now: datetime, clock: Clock
) -> tuple[dict[str, Any], str | None]:
    """The SLA state after a priority change, and why it could not follow (None when it did).

    The running deadline keeps the time already spent: what is left changes by the
    difference between the new and the old target.
    """
    targets = (sla.get("priority_minutes") or {}).get(priority.value)
    if not targets:
        return sla, "SLA unchanged: the router sent no targets for this priority"
    first, following = int(targets[0]), int(targets[1])
    sla = dict(sla)
    old_first = sla.get("first_response_minutes") or first
    old_next = sla.get("next_response_minutes") or following
    sla.update(policy=priority.value, first_response_minutes=first, next_response_minutes=following)
    if sla.get("first_response_at"):
        key, delta = "next_response_due", following - old_next
    else:
        key, delta = "first_response_due", first - old_first
    if sla.get("paused_remaining_s") is not None:
        sla["paused_remaining_s"] = max(sla["paused_remaining_s"] + delta * 60, 0.0)
        return sla, None
    due = sla.get(key)
    if due is None:
        return sla, None
    left = clock.minutes_between(now, due) if due > now else 0.0
    new_due = clock.add_minutes(now, max(left + delta, 0.0))
    platform_due = sla.get("platform_due")
    if key == "first_response_due" and platform_due and platform_due < new_due:
        new_due = platform_due
    sla[key] = new_due
    sla["clock_started_at"] = now
    sla["breached"] = bool(sla.get("breached")) and new_due <= now
    return sla, None


def on_reopen(sla: dict[str, Any], status: str, at: datetime, clock: Clock) -> dict[str, Any]:
    """A customer message on a pending or resolved conversation (`status`) reopens it: a
    paused clock resumes; a resolved one that was never answered starts its first-response
    clock again; then the customer's message counts as on an open conversation."""
    sla = dict(sla)
    if status == ConversationStatus.PENDING:
        return on_resume(sla, at, clock)
    if status == ConversationStatus.RESOLVED and not sla.get("first_response_at"):
        minutes = sla.get("first_response_minutes")
        if minutes:
            sla["first_response_due"] = clock.add_minutes(at, minutes)
            sla["clock_started_at"] = at
    return on_customer_message(sla, at, clock)


def on_split(sla: dict[str, Any], answered: bool, at: datetime, clock: Clock) -> dict[str, Any]:
    """The clock of a conversation split off another: the other's targets; unless the moved
    messages were answered, the customer waits for an answer on the new topic from now."""
    split = {k: sla.get(k) for k in ("policy", "first_response_minutes", "next_response_minutes")}
    minutes = split.get("first_response_minutes")
    if not answered and minutes:
        split["first_response_due"] = clock.add_minutes(at, minutes)
        split["clock_started_at"] = at
    return split


def sla_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Field-level `$set`s (`sla.<field>`) for what a transition changed: a write never puts
    back a field it did not change (a first response another writer stored stays). A field
    the transition dropped is set to None."""
    changes = {f"sla.{k}": v for k, v in after.items() if k not in before or before[k] != v}
    changes.update({f"sla.{k}": None for k in before if k not in after})
    return changes
