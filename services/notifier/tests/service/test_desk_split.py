"""Splitting a conversation over HTTP against the real bus and store: the chosen messages
start a new conversation linked both ways, and the router is asked to move their thread
keys so the customer's replies to them follow."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_core import subjects
from inbox_core.commands import ThreadMove
from inbox_core.testing.http import collect

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def _reused_thread(n: NotifierHarness) -> dict[str, Any]:
    """c1: a shipping question, its answer, then a refund question in the same thread."""
    await n.publish(n.routed(1, "c1", text="코트 언제 오나요?"))
    await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    await n.post("/api/conversations/c1/reply", {"text": "내일 도착합니다."})
    await n.publish(n.routed(2, "c1", created=False, text="그리고 지난번 니트 환불은요?"))
    return await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 2)


async def test_split_moves_messages_to_a_new_linked_conversation_that_waits_for_an_answer(
    notifier: NotifierHarness,
) -> None:
    before = await _reused_thread(notifier)
    refund = before["messages"][-1]
    status, body = await notifier.post(
        "/api/conversations/c1/split", {"message_ids": [refund["id"]]}
    )
    assert status == 201, body
    new = body["conversation"]
    assert new["id"] != "c1" and new["number"] != before["number"]
    assert new["status"] == "open" and new["linked_conversation_id"] == "c1"
    assert new["team"] == before["team"] and new["message_count"] == 1
    assert new["sla"]["first_response_due"] is not None  # the customer waits for an answer
    assert body["original"]["message_count"] == 1
    detail = await notifier.get(f"/api/conversations/{new['id']}")
    assert [m["text"] for m in detail["messages"]] == ["그리고 지난번 니트 환불은요?"]
    original = await notifier.get("/api/conversations/c1")
    assert [m["text"] for m in original["messages"]] == ["코트 언제 오나요?", "내일 도착합니다."]
    assert new["id"] in [c["id"] for c in original["linked_conversations"]]
    assert "c1" in [c["id"] for c in detail["linked_conversations"]]
    [cmd] = await collect(notifier.bus.js, subjects.THREAD_MOVES, 1)
    move = ThreadMove.from_json(cmd.data)
    assert (move.from_conversation_id, move.to_conversation_id) == ("c1", new["id"])
    assert move.keys == ["mail:m2@example.com"]
    created = await notifier.events(1, types="conversation.created", team="shipping")
    assert created


@pytest.mark.parametrize(
    ("which", "status", "code"),
    [
        ("all", 422, "invalid_split"),
        ("unknown", 422, "invalid_split"),
        ("none", 422, "validation_error"),
    ],
    ids=["every_customer_message", "not_in_this_conversation", "empty_list"],
)
async def test_split_that_would_leave_a_side_empty_or_names_strangers_is_refused(
    notifier: NotifierHarness, which: str, status: int, code: str
) -> None:
    before = await _reused_thread(notifier)
    ids = {
        "all": [m["id"] for m in before["messages"]],
        "unknown": ["not-a-message"],
        "none": [],
    }[which]
    got, body = await notifier.post("/api/conversations/c1/split", {"message_ids": ids})
    assert (got, body["code"]) == (status, code)
    after = await notifier.get("/api/conversations/c1")
    assert len(after["messages"]) == len(before["messages"]) and after["linked_conversations"] == []
