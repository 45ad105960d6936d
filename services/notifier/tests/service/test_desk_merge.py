"""Merging conversations over HTTP against the real bus and store: messages, notes and
delivery states move in, the other is `merged`, the router is asked to move its thread keys,
and replies go to the channel the customer last wrote on (or the one the agent chooses)."""

from __future__ import annotations

from typing import Any

from inbox_core import subjects
from inbox_core.commands import ThreadMove
from inbox_core.schema import Customer, DeliveryReport, DeliveryStatus, OutboundReply
from inbox_core.testing.http import collect

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def _two_conversations(n: NotifierHarness) -> None:
    """c1: a mail with an answered reply; c2: the same customer on Kakao, with a note."""
    await n.publish(n.routed(1, "c1", text="주문한 코트 언제 오나요?"))
    await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    _, reply = await n.post("/api/conversations/c1/reply", {"text": "내일 도착 예정입니다."})
    report = DeliveryReport(
        reply_id=reply["message"]["id"],
        conversation_id="c1",
        channel="mail",
        account="cs",
        status=DeliveryStatus.SENT,
    )
    await n.bus.publish_model(subjects.delivery("mail", "cs"), report)
    await n.wait_for(
        "/api/conversations/c1", lambda b: b["messages"][-1]["delivery"]["status"] == "sent"
    )
    kakao = n.routed(2, "c2", channel="kakao", account="shop", text="코트 배송 문의요")
    kakao.message.customer = Customer(id="kakao-user-7", name="김민수")
    kakao.message.thread_keys = ["kakao:shop:kakao-user-7"]
    await n.publish(kakao)
    await n.wait_for("/api/conversations/c2", lambda b: b["message_count"] == 1)
    await n.post("/api/conversations/c2/notes", {"text": "같은 고객, 메일로도 문의"})


async def test_merge_moves_messages_notes_and_delivery_states_and_marks_the_other_merged(
    notifier: NotifierHarness,
) -> None:
    await _two_conversations(notifier)
    status, body = await notifier.post("/api/conversations/c1/merge", {"other_id": "c2"})
    assert status == 200, body
    assert body["conversation"]["merged_from"] == ["c2"]
    assert body["conversation"]["message_count"] == 2
    detail = await notifier.get("/api/conversations/c1")
    kinds = [(m["channel"], m["direction"], m["kind"]) for m in detail["messages"]]
    assert ("kakao", "in", "message") in kinds and ("mail", "out", "message") in kinds
    notes = [m["text"] for m in detail["messages"] if m["kind"] == "note"]
    assert "같은 고객, 메일로도 문의" in notes and any("#" in n for n in notes)
    times = [m["created_at"] for m in detail["messages"]]
    assert times == sorted(times)  # one thread, in time order
    sent = [m for m in detail["messages"] if m["direction"] == "out" and m["kind"] == "message"]
    assert sent[0]["delivery"]["status"] == "sent"
    other = await notifier.get("/api/conversations/c2")
    assert other["status"] == "merged" and other["merged_into"] == "c1"
    assert other["messages"] == [] and other["sla"]["next_response_due"] is None
    [cmd] = await collect(notifier.bus.js, subjects.THREAD_MOVES, 1)
    move = ThreadMove.from_json(cmd.data)
    assert (move.from_conversation_id, move.to_conversation_id) == ("c2", "c1")
    assert move.keys is None and move.reason == "merge"


async def test_reply_after_merge_goes_where_the_customer_last_wrote_or_where_chosen(
    notifier: NotifierHarness,
) -> None:
    await _two_conversations(notifier)
    await notifier.post("/api/conversations/c1/merge", {"other_id": "c2"})
    status, body = await notifier.post("/api/conversations/c1/reply", {"text": "카카오로 답변"})
    assert status == 201 and body["message"]["channel"] == "kakao"
    [out] = await collect(notifier.bus.js, "inbox.out.kakao.shop", 1)
    reply = OutboundReply.from_json(out.data)
    assert reply.customer.id == "kakao-user-7" and reply.thread_keys == ["kakao:shop:kakao-user-7"]
    status, body = await notifier.post(
        "/api/conversations/c1/reply", {"text": "메일로 답변", "channel": "mail"}
    )
    assert status == 201 and body["message"]["channel"] == "mail"
    outs = await collect(notifier.bus.js, "inbox.out.mail.cs", 2)
    reply = OutboundReply.from_json(outs[-1].data)
    assert reply.text == "메일로 답변" and reply.customer.email == "kim@example.com"
    status, body = await notifier.post(
        "/api/conversations/c1/reply", {"text": "?", "channel": "instagram"}
    )
    assert status == 422 and body["code"] == "channel_not_in_conversation"


async def test_merge_again_is_harmless_and_wrong_merges_are_refused(
    notifier: NotifierHarness,
) -> None:
    await _two_conversations(notifier)
    status, _ = await notifier.post("/api/conversations/c1/merge", {"other_id": "c2"})
    assert status == 200
    status, body = await notifier.post("/api/conversations/c1/merge", {"other_id": "c2"})
    assert status == 200 and body["conversation"]["message_count"] == 2  # nothing twice
    detail = await notifier.get("/api/conversations/c1")
    assert sum(1 for m in detail["messages"] if m["author"] == "minji" and "#" in m["text"]) == 1
    for conv, other, code in (
        ("c2", "c1", "already_merged"),
        ("c1", "c1", "same_conversation"),
    ):
        status, body = await notifier.post(f"/api/conversations/{conv}/merge", {"other_id": other})
        assert status == 409 and body["code"] == code
    status, body = await notifier.post("/api/conversations/c1/merge", {"other_id": "nope"})
    assert status == 404
    status, body = await notifier.post("/api/conversations/c2/reply", {"text": "안녕하세요"})
    assert status == 409 and body["code"] == "merged"  # replies go where the messages are
    status, body = await notifier.post("/api/conversations/c1/status", {"status": "merged"})
    assert status == 422 and body["errors"][0]["field"] == "status"
