"""SLA policies: first- and next-response targets per priority (optionally per team/channel),
counted in business time on the business calendar.

In the rules file:

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
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from inbox_core.calendar import BusinessCalendar
from inbox_core.schema import InboundMessage, Priority, SlaState

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
