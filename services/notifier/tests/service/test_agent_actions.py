"""Agent actions over HTTP against the real bus and store: reply with delivery tracking,
notes, claims with optimistic concurrency, status transitions and SLA, tags."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inbox_core import subjects
from inbox_core.schema import DeliveryReport, DeliveryStatus, OutboundReply
from inbox_core.testing.http import collect

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def _conversation(n: NotifierHarness, conv: str = "c1", **kw: Any) -> dict[str, Any]:
    await n.publish(n.routed(1, conv, **kw))
    return await n.wait_for(f"/api/conversations/{conv}", lambda b: b["message_count"] == 1)


async def test_reply_is_queued_for_the_connector_and_stops_the_first_response_clock(
    notifier: NotifierHarness,
) -> None:
    before = await _conversation(notifier, context={"product_name": "캐시미어 니트"})
    assert before["sla"]["first_response_due"] is not None
    status, body = await notifier.post(
        "/api/conversations/c1/reply", {"text": "{{customer.name}}님, 오늘 출고됩니다."}
    )
    assert status == 201, body
    assert body["message"]["text"] == "김민수님, 오늘 출고됩니다."
    assert body["message"]["delivery"]["status"] == "queued"
    assert body["message"]["author"] == "minji"  # named by the token
    assert body["conversation"]["sla"]["first_response_due"] is None
    assert body["conversation"]["sla"]["first_response_at"] is not None
    [out] = await collect(notifier.bus.js, "inbox.out.mail.cs", 1)
    reply = OutboundReply.from_json(out.data)
    assert reply.text == "김민수님, 오늘 출고됩니다."
    assert reply.customer.email == "kim@example.com"
    assert reply.in_reply_to == "m1@example.com"
    assert reply.context["conversation_number"] == before["number"]
    assert reply.context["product_name"] == "캐시미어 니트"


async def test_delivery_reports_update_the_reply_and_failures_reach_the_agent(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier)
    _, sent = await notifier.post("/api/conversations/c1/reply", {"text": "확인했습니다."})
    _, failed = await notifier.post("/api/conversations/c1/reply", {"text": "두 번째 답변"})
    for reply_id, status, error in (
        (sent["message"]["id"], DeliveryStatus.SENT, None),
        (failed["message"]["id"], DeliveryStatus.FAILED, "user blocked the page"),
    ):
        report = DeliveryReport(
            reply_id=reply_id,
            conversation_id="c1",
            channel="mail",
            account="cs",
            status=status,
            error=error,
        )
        await notifier.bus.publish_model(subjects.delivery("mail", "cs"), report)

    def delivered(body: dict[str, Any]) -> bool:
        states = [m["delivery"]["status"] for m in body["messages"] if m["delivery"]]
        return states == ["sent", "failed"]

    detail = await notifier.wait_for("/api/conversations/c1", delivered)
    assert detail["messages"][-1]["delivery"]["error"] == "user blocked the page"
    events = await notifier.events(1, types="message.delivery_failed")
    assert events[0]["data"]["type"] == "message.delivery_failed"
    assert events[0]["data"]["message"]["id"] == failed["message"]["id"]


async def test_reply_with_a_canned_response_renders_its_placeholders(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier, context={"product_name": "울 코트"})
    status, canned = await notifier.post(
        "/api/canned-responses",
        {
            "title": "재입고 안내",
            "text": "{{customer.name}}님, {{product.name}}은 다음 주 재입고 예정입니다. "
            "(문의 #{{conversation.number}}, 담당 {{agent.name}})",
        },
    )
    assert status == 201
    status, body = await notifier.post(
        "/api/conversations/c1/reply", {"canned_id": canned["id"]}, agent="junho"
    )
    assert status == 201
    text = body["message"]["text"]
    assert text.startswith("김민수님, 울 코트은 다음 주 재입고 예정입니다.")
    assert f"#{body['conversation']['number']}" in text and "담당 junho" in text


async def test_reply_to_an_unknown_conversation_is_404_and_without_text_is_422(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier)
    status, body = await notifier.post("/api/conversations/nope/reply", {"text": "안녕하세요"})
    assert status == 404 and body["code"] == "not_found"
    status, body = await notifier.post("/api/conversations/c1/reply", {})
    assert status == 422 and body["errors"][0]["field"] == "text"
    status, body = await notifier.post("/api/conversations/c1/reply", {"text": "   "})
    assert status == 422 and body["code"] == "validation_error"


async def test_private_note_is_stored_but_never_sent(notifier: NotifierHarness) -> None:
    await _conversation(notifier)
    status, body = await notifier.post(
        "/api/conversations/c1/notes", {"text": "VIP 고객, 우선 처리"}
    )
    assert status == 201 and body["message"]["kind"] == "note"
    detail = await notifier.get("/api/conversations/c1")
    assert [m["kind"] for m in detail["messages"]] == ["message", "note"]
    info = await notifier.bus.js.stream_info(subjects.STREAM_OUTBOUND)
    assert info.state.messages == 0


async def test_two_agents_claiming_at_once_get_one_winner_and_one_409(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier)
    results = await asyncio.gather(
        notifier.post("/api/conversations/c1/assign", {"assignee": "minji"}, agent="minji"),
        notifier.post("/api/conversations/c1/assign", {"assignee": "junho"}, agent="junho"),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    winner = next(body for status, body in results if status == 200)["conversation"]["assignee"]
    loser = next(body for status, body in results if status == 409)
    assert loser["code"] == "assign_conflict" and winner in loser["message"]
    detail = await notifier.get("/api/conversations/c1")
    assert detail["assignee"] == winner
    # Taking over needs force; a stale version is refused.
    status, _ = await notifier.post(
        "/api/conversations/c1/assign", {"assignee": "minji", "force": True, "version": 0}
    )
    assert status == 409
    status, body = await notifier.post(
        "/api/conversations/c1/assign",
        {"assignee": "minji", "force": True, "version": detail["version"]},
    )
    assert status == 200 and body["conversation"]["assignee"] == "minji"


async def test_status_transitions_are_validated_and_pending_pauses_the_sla(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier, hours=4)
    status, body = await notifier.post("/api/conversations/c1/status", {"status": "pending"})
    assert status == 200
    conv = body["conversation"]
    assert conv["status"] == "pending" and conv["sla"]["paused"] is True
    queue = await notifier.get("/api/conversations")
    assert queue["items"][0]["id"] == "c1"  # still listed
    status, body = await notifier.post("/api/conversations/c1/status", {"status": "open"})
    assert status == 200 and body["conversation"]["sla"]["paused"] is False
    assert body["conversation"]["sla"]["first_response_due"] is not None
    status, body = await notifier.post("/api/conversations/c1/status", {"status": "resolved"})
    assert status == 200 and body["conversation"]["resolved_at"] is not None
    status, body = await notifier.post("/api/conversations/c1/status", {"status": "pending"})
    assert status == 409 and body["code"] == "invalid_transition"
    status, body = await notifier.post("/api/conversations/c1/status", {"status": "closed"})
    assert status == 422 and body["errors"][0]["field"] == "status"


async def test_customer_message_reopens_a_resolved_conversation(notifier: NotifierHarness) -> None:
    await _conversation(notifier)
    await notifier.post("/api/conversations/c1/status", {"status": "resolved"})
    await notifier.publish(notifier.routed(2, "c1", created=False, text="아직 못 받았어요"))
    detail = await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 2)
    assert detail["status"] == "open" and detail["resolved_at"] is None


async def test_tags_are_added_and_removed(notifier: NotifierHarness) -> None:
    await _conversation(notifier)
    status, body = await notifier.post(
        "/api/conversations/c1/tags", {"add": ["VIP", "교환"], "remove": ["배송"]}
    )
    assert status == 200 and body["conversation"]["tags"] == ["VIP", "교환"]
    filtered = await notifier.get("/api/conversations", tag="VIP")
    assert [c["id"] for c in filtered["items"]] == ["c1"]
    status, body = await notifier.post("/api/conversations/c1/tags", {"add": [""]})
    assert status == 422


@pytest.mark.parametrize("path", ["assign", "status"])
async def test_version_beyond_the_store_s_integers_is_refused_not_a_crash(
    notifier: NotifierHarness, path: str
) -> None:
    await _conversation(notifier)
    body = {"assignee": "minji"} if path == "assign" else {"status": "pending"}
    status, answer = await notifier.post(
        f"/api/conversations/c1/{path}", {**body, "version": 2**64}
    )
    assert status == 422 and answer["code"] == "validation_error"
    detail = await notifier.get("/api/conversations/c1")
    assert detail["assignee"] is None and detail["status"] == "open"  # nothing changed
