"""Coupang normalisers on named fixture pairs (`online_*`, `callcenter_*`), and the window
of calendar days a list call asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from inbox_core.errors import InvalidPayload
from inbox_core.window_cursor import Window
from inbox_ingest_marketplace.channels.coupang import date_range
from inbox_ingest_marketplace.channels.coupang_normalise import (
    normalise_call_center_inquiry,
    normalise_online_inquiry,
    parse_coupang_datetime,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "coupang"
CASES = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))
VENDOR = "A00010028"


def _load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_normalise_gives_the_platform_s_answers(case: str) -> None:
    """The message of each pair is checked by the conformance suite; here the answers
    already given on the platform, and who gave them."""
    item, expected = _load(f"{case}.json"), _load(f"{case}.expected.json")
    if case.startswith("online_"):
        question = normalise_online_inquiry(item, VENDOR)
    else:
        question = normalise_call_center_inquiry(item, VENDOR, seller_ids={VENDOR})

    assert [a.text for a in question.answers] == expected["answers"]
    if "from_seller" in expected:
        assert [a.from_seller for a in question.answers] == expected["from_seller"]


def test_times_without_offset_are_kst() -> None:
    assert parse_coupang_datetime("2026-11-20 15:12:03") == datetime(
        2026, 11, 20, 6, 12, 3, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "item",
    [
        {"content": "재입고?", "inquiryAt": "2026-11-20 15:12:03"},
        {"inquiryId": 1, "content": None, "inquiryAt": "2026-11-20 15:12:03"},
        {"inquiryId": 1, "content": "재입고?", "inquiryAt": "어제"},
        {"inquiryId": True, "content": "재입고?", "inquiryAt": "2026-11-20 15:12:03"},
    ],
    ids=["no-id", "no-content", "unreadable-time", "boolean-id"],
)
def test_unreadable_inquiries_are_refused(item: dict[str, Any]) -> None:
    with pytest.raises(InvalidPayload):
        normalise_online_inquiry(item, VENDOR)
    with pytest.raises(InvalidPayload):
        normalise_call_center_inquiry(item, VENDOR, seller_ids={VENDOR})


def _utc(kst: str) -> datetime:
    return datetime.fromisoformat(kst + "+09:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        ("2026-11-20T09:00", "2026-11-20T09:30", ("2026-11-19", "2026-11-20")),
        ("2026-11-14T23:59", "2026-11-20T23:58", ("2026-11-14", "2026-11-20")),
        ("2026-11-19T23:50", "2026-11-20T00:10", ("2026-11-19", "2026-11-20")),
    ],
    ids=["same-day-widened", "six-days", "across-midnight-kst"],
)
def test_window_becomes_kst_days_never_one_single_day(
    start: str, end: str, days: tuple[str, str]
) -> None:
    window = Window(_utc(start), _utc(end))

    first, last = date_range(window)

    assert (first, last) == days
    span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    assert timedelta(days=1) <= span <= timedelta(days=7)
