"""SLA policies: targets per priority and per team/channel, due on the business calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from inbox_core.calendar import BusinessCalendar
from inbox_core.schema import Customer, InboundMessage, Priority
from inbox_core.sla import SlaPolicies, parse_duration

CAL = BusinessCalendar()
FRIDAY_1730 = datetime(2025, 9, 26, 8, 30, tzinfo=UTC)  # Friday 17:30 in Seoul


def _message(channel: str = "mail", at: datetime = FRIDAY_1730) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account="shop",
        external_id="1",
        thread_keys=["k"],
        customer=Customer(id="c"),
        received_at=at,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("1h30m", timedelta(minutes=90)),
        ("90min", timedelta(minutes=90)),
        (" 2 h ", timedelta(hours=2)),
        (1.5, timedelta(minutes=90)),
        (24, timedelta(hours=24)),
    ],
    ids=["minutes", "hours", "hours-minutes", "min", "spaces", "float-hours", "int-hours"],
)
def test_durations_parse(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "value", ["4 days", "", "h", 0, -1, True, None], ids=["days", "empty", "unit-only", "zero",
                                                          "negative", "bool", "none"]
)  # fmt: skip
def test_bad_durations_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_default_policies_match_the_issue() -> None:
    policies = SlaPolicies()
    assert {p: policies.targets_for(p, "general", "mail")[1].first_response for p in Priority} == {
        Priority.URGENT: timedelta(hours=1),
        Priority.HIGH: timedelta(hours=4),
        Priority.NORMAL: timedelta(hours=8),
        Priority.LOW: timedelta(hours=24),
    }


@pytest.mark.parametrize(
    ("priority", "due"),
    [
        (Priority.URGENT, datetime(2025, 9, 29, 9, 30)),
        (Priority.HIGH, datetime(2025, 9, 29, 12, 30)),
        (Priority.NORMAL, datetime(2025, 9, 29, 16, 30)),
        (Priority.LOW, datetime(2025, 10, 1, 14, 30)),
    ],
    ids=["urgent-1h", "high-4h", "normal-8h", "low-24h"],
)
def test_first_response_due_skips_the_weekend(priority: Priority, due: datetime) -> None:
    state = SlaPolicies().state(_message(), priority, "general", CAL, new_conversation=True)
    assert state.first_response_due == due.replace(tzinfo=CAL.tz)
    assert state.next_response_due is None
    assert state.policy == priority.value


def test_message_in_an_existing_conversation_gets_a_next_response_due() -> None:
    policies = SlaPolicies.model_validate(
        {"normal": {"first_response": "8h", "next_response": "2h"}}
    )
    state = policies.state(_message(), Priority.NORMAL, "general", CAL, new_conversation=False)
    assert (state.first_response_minutes, state.next_response_minutes) == (480, 120)
    assert state.next_response_due == datetime(2025, 9, 29, 10, 30, tzinfo=CAL.tz)


@pytest.mark.parametrize(
    ("channel", "team", "priority", "policy", "minutes"),
    [
        ("kakao", "shipping", Priority.NORMAL, "chat", 120),
        ("kakao", "shipping", Priority.LOW, "low", 24 * 60),
        ("mail", "claims", Priority.HIGH, "claims", 60),
        ("mail", "shipping", Priority.NORMAL, "normal", 8 * 60),
    ],
    ids=["chat-override", "override-limited-to-priorities", "team-override", "no-override"],
)
def test_overrides_by_team_and_channel_come_first(
    channel: str, team: str, priority: Priority, policy: str, minutes: int
) -> None:
    policies = SlaPolicies.model_validate(
        {
            "overrides": [
                {"name": "chat", "channel": "kakao", "priority": ["urgent", "high", "normal"],
                 "first_response": "2h"},
                {"name": "claims", "team": ["claims"], "first_response": "1h"},
            ]
        }
    )  # fmt: skip
    state = policies.state(_message(channel), priority, team, CAL, new_conversation=True)
    assert (state.policy, state.first_response_minutes) == (policy, minutes)


def test_unknown_sla_section_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="critical"):
        SlaPolicies.model_validate({"critical": "1h"})


def _coupang(board: str, at: datetime = FRIDAY_1730) -> InboundMessage:
    message = _message("coupang", at)
    return message.model_copy(update={"context": {"board": board}})


def test_coupang_call_center_inquiry_is_due_at_the_platforms_24_hour_deadline() -> None:
    """Friday 17:30: 8 business hours end Monday 16:30, but Coupang closes the inquiry
    itself on Saturday 17:30 — nights and weekends count."""
    state = SlaPolicies().state(
        _coupang("callcenter"), Priority.NORMAL, "product", CAL, new_conversation=True
    )
    assert state.first_response_due == FRIDAY_1730 + timedelta(hours=24)
    assert state.platform_due == FRIDAY_1730 + timedelta(hours=24)
    assert state.policy == "normal+coupang-call-center"
    assert "24 h wall clock" in (state.platform_reason or "")


def test_platform_deadline_does_not_apply_when_business_hours_are_earlier() -> None:
    tuesday_1000 = datetime(2025, 9, 30, 1, 0, tzinfo=UTC)
    state = SlaPolicies().state(
        _coupang("callcenter", tuesday_1000), Priority.NORMAL, "product", CAL,
        new_conversation=True,
    )  # fmt: skip
    assert state.first_response_due == datetime(2025, 9, 30, 9, 0, tzinfo=UTC)  # 18:00 Seoul
    assert state.policy == "normal"


def test_coupang_product_questions_and_other_boards_follow_business_hours() -> None:
    state = SlaPolicies().state(
        _coupang("online"), Priority.NORMAL, "product", CAL, new_conversation=True
    )
    assert state.platform_due is None
    assert state.first_response_due == datetime(2025, 9, 29, 7, 30, tzinfo=UTC)  # Mon 16:30


def test_platform_deadlines_are_configurable_per_channel_and_board() -> None:
    policies = SlaPolicies.model_validate(
        {"platform_deadlines": [{"name": "11st-qna", "channel": "elevenst", "within": "12h"}]}
    )
    eleven = policies.state(
        _message("elevenst"), Priority.NORMAL, "product", CAL, new_conversation=True
    )
    assert eleven.first_response_due == FRIDAY_1730 + timedelta(hours=12)
    coupang = policies.state(
        _coupang("callcenter"), Priority.NORMAL, "product", CAL, new_conversation=True
    )
    assert coupang.platform_due is None  # the file's list replaces the built-in one


def test_sla_state_carries_every_prioritys_targets_for_the_notifier() -> None:
    state = SlaPolicies().state(_message(), Priority.NORMAL, "general", CAL, new_conversation=True)
    assert state.priority_minutes == {
        "urgent": [60, 60], "high": [240, 240], "normal": [480, 480], "low": [1440, 1440],
    }  # fmt: skip
