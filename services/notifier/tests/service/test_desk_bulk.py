"""Bulk actions over HTTP against the real bus and store: one action on many conversations,
a result per conversation, failures that do not stop the rest, per-conversation rendering
and events."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_core.schema import OutboundReply
from inbox_core.testing.http import collect

NotifierHarness = Any  # the `notifier` fixture (conftest.py)
NAMES = ["김민수", "이서연", "박지훈"]


async def _conversations(n: NotifierHarness) -> list[str]:
    ids = []
    for i, name in enumerate(NAMES, start=1):
        routed = n.routed(i, f"c{i}", text="쿠폰 적용이 안 돼요")
        routed.message.customer.name = name
        routed.message.customer.email = f"customer{i}@example.com"
        await n.publish(routed)
        ids.append(f"c{i}")
    await n.wait_for("/api/conversations", lambda b: len(b["items"]) == len(NAMES))
    return ids


async def test_bulk_reply_renders_each_customer_s_name_and_reports_unknown_ids(
    notifier: NotifierHarness,
) -> None:
    ids = await _conversations(notifier)
    status, body = await notifier.post(
        "/api/conversations/bulk",
        {
            "ids": [*ids, "gone"],
            "action": "reply",
            "text": "{{customer.name}}님, 쿠폰 오류는 해결되었습니다.",
        },
    )
    assert status == 200, body
    results = {r["id"]: r for r in body["results"]}
    assert [r["id"] for r in body["results"]] == [*ids, "gone"]
    assert all(results[i]["ok"] for i in ids)
    assert results["gone"] == {
        "id": "gone",
        "ok": False,
        "error": "not_found",
        "message": "conversation gone not found",
    }
    sent = [
        OutboundReply.from_json(m.data) for m in await collect(notifier.bus.js, "inbox.out.>", 3)
    ]
    assert sorted(r.text for r in sent) == sorted(
        f"{n}님, 쿠폰 오류는 해결되었습니다." for n in NAMES
    )
    assert {r.conversation_id for r in sent} == set(ids)
    for conv_id in ids:  # each conversation has its own reply, event and first response
        detail = await notifier.get(f"/api/conversations/{conv_id}")
        assert [m["direction"] for m in detail["messages"]] == ["in", "out"]
        assert detail["sla"]["first_response_at"] is not None
    events = await notifier.events(6, types="message.created")
    replied = {
        e["data"]["conversation_id"] for e in events if e["data"]["message"]["direction"] == "out"
    }
    assert replied == set(ids)


async def test_bulk_resolve_goes_on_after_a_failure(notifier: NotifierHarness) -> None:
    ids = await _conversations(notifier)
    await notifier.post("/api/conversations/c2/status", {"status": "resolved"})
    status, body = await notifier.post("/api/conversations/bulk", {"ids": ids, "action": "resolve"})
    assert status == 200
    assert [(r["id"], r["ok"], r["error"]) for r in body["results"]] == [
        ("c1", True, None),
        ("c2", False, "invalid_transition"),
        ("c3", True, None),
    ]
    for conv_id in ids:
        assert (await notifier.get(f"/api/conversations/{conv_id}"))["status"] == "resolved"


async def test_bulk_team_transfers_each_conversation_and_names_the_agent(
    notifier: NotifierHarness,
) -> None:
    ids = await _conversations(notifier)
    status, body = await notifier.post(
        "/api/conversations/bulk", {"ids": ids, "action": "team", "team": "returns"}
    )
    assert status == 200 and all(r["ok"] for r in body["results"]), body
    for conv_id in ids:
        detail = await notifier.get(f"/api/conversations/{conv_id}")
        assert detail["team"] == "returns"
        assert any("minji" in reason for reason in detail["routing_reasons"])


async def test_bulk_assign_and_tag(notifier: NotifierHarness) -> None:
    ids = await _conversations(notifier)
    status, body = await notifier.post(
        "/api/conversations/bulk", {"ids": ids, "action": "assign", "assignee": "junho"}
    )
    assert status == 200 and all(r["ok"] for r in body["results"])
    status, body = await notifier.post(
        "/api/conversations/bulk", {"ids": ids[:2], "action": "tag", "add": ["프로모션"]}
    )
    assert status == 200 and all(r["ok"] for r in body["results"])
    mine = await notifier.get("/api/conversations", assignee="junho")
    assert sorted(c["id"] for c in mine["items"]) == ids
    tagged = await notifier.get("/api/conversations", tag="프로모션")
    assert sorted(c["id"] for c in tagged["items"]) == ids[:2]


@pytest.mark.parametrize(
    "body",
    [
        {"ids": [], "action": "resolve"},
        {"ids": [f"c{i}" for i in range(501)], "action": "resolve"},
        {"ids": ["c1"], "action": "delete"},
        {"ids": ["c1"], "action": "reply"},
        {"ids": ["c1"], "action": "reply", "text": "  "},
        {"ids": ["c1"], "action": "tag"},
        {"ids": ["c1"], "action": "team"},
        {"ids": ["c1"], "action": "assign"},
    ],
    ids=[
        "no_ids",
        "more_than_500",
        "unknown_action",
        "reply_without_text",
        "reply_blank",
        "tag_without_tags",
        "team_without_team",
        "assign_without_assignee",
    ],
)
async def test_bad_bulk_request_is_422_and_changes_nothing(
    notifier: NotifierHarness, body: dict[str, Any]
) -> None:
    await _conversations(notifier)
    status, answer = await notifier.post("/api/conversations/bulk", body)
    assert status == 422 and answer["code"] == "validation_error", answer
    detail = await notifier.get("/api/conversations/c1")
    assert detail["status"] == "open" and detail["message_count"] == 1
    info = await notifier.bus.js.stream_info("OUTBOUND")
    assert info.state.messages == 0
