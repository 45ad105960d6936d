"""The queue page's query string: filters, the unassigned, search, and the page cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox_notifier.conversation_reads import decode_cursor, encode_cursor, page_filter
from inbox_notifier.models import ConversationQuery
from inbox_notifier.routing import ApiError


def test_comma_separated_values_become_allowed_values() -> None:
    query = ConversationQuery(status="open, pending", team="shipping", channel=" ,kakao,")
    assert page_filter(query).values == {
        "status": ["open", "pending"],
        "team": ["shipping"],
        "channel": ["kakao"],
    }


def test_assignee_none_lists_the_unassigned() -> None:
    assert page_filter(ConversationQuery(assignee="none,minji")).values == {
        "assignee": [None, "minji"]
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [("  배송  ", "배송"), ("   ", None), (None, None)],
    ids=["trimmed", "blank-is-no-search", "absent"],
)
def test_search_text(q: str | None, expected: str | None) -> None:
    assert page_filter(ConversationQuery(q=q)).q == expected


def test_no_filters_reads_the_whole_queue() -> None:
    found = page_filter(ConversationQuery())
    assert (found.values, found.tag, found.q) == ({}, None, None)
    assert found.driver() is None and found.residual(None) is None


def test_single_valued_filter_leads_the_index() -> None:
    found = page_filter(ConversationQuery(status="open,pending", team="refund"))
    assert found.driver() == "team"
    residual = found.residual("team")
    assert residual is not None
    assert residual({"status": "open", "team": "x"}) and not residual({"status": "resolved"})


def test_cursor_round_trips() -> None:
    due = datetime(2025, 10, 6, 1, 2, 3, tzinfo=UTC)
    assert decode_cursor(encode_cursor(due, "c1")) == (due, "c1")


def test_cursor_without_a_zone_is_utc() -> None:
    raw = encode_cursor(datetime(2025, 10, 6, 1, 0), "c1")  # a cursor from before zones
    assert decode_cursor(raw)[0].tzinfo is UTC


@pytest.mark.parametrize("raw", ["bm9wZQ==", "!!!", ""], ids=["not-json", "not-base64", "empty"])
def test_a_cursor_not_given_out_is_400(raw: str) -> None:
    with pytest.raises(ApiError) as err:
        decode_cursor(raw)
    assert (err.value.status, err.value.code) == (400, "invalid_cursor")
