"""FAQ entries over HTTP on the real bus and store: admin writes, windows and channels,
matching, and the bot's answer in the queue (resolved, tagged, reopened by the customer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from inbox_core.schema import BotAnswer, utcnow

NotifierHarness = Any  # the `notifier` fixture (conftest.py): minji is admin, junho an agent

SHIPPING = {
    "question": "배송은 얼마나 걸리나요?",
    "examples": ["배송 기간이 어떻게 되나요", "주문하면 며칠 만에 받을 수 있어요", "언제 도착해요"],
    "answer": "{{customer.name}}님, 결제 후 1~3일 안에 받아보실 수 있어요.",
}
COUPON = {
    "question": "쿠폰은 어떻게 쓰나요?",
    "examples": ["쿠폰 사용 방법", "쿠폰 적용이 안 돼요", "할인 쿠폰 어디서 넣어요"],
    "answer": "결제 페이지의 '쿠폰 적용'에서 고르시면 돼요.",
}


async def _request(
    n: NotifierHarness, method: str, path: str, body: Any = None, agent: str = "minji"
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer token-{agent}"}
    async with n.http.request(method, f"{n.url}{path}", headers=headers, json=body) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


async def test_admin_creates_reads_updates_and_deletes_an_entry(notifier: NotifierHarness) -> None:
    status, entry = await _request(notifier, "POST", "/api/faq", SHIPPING)
    assert status == 201, entry
    assert entry["examples"] == SHIPPING["examples"]
    assert (entry["channels"], entry["auto_answer"]) == (None, True)
    status, listed = await _request(notifier, "GET", "/api/faq", agent="junho")
    assert [e["id"] for e in listed["items"]] == [entry["id"]]
    changed = {**entry, "answer": "1~2일이면 도착해요.", "channels": ["kakao"]}
    status, updated = await _request(notifier, "PUT", f"/api/faq/{entry['id']}", changed)
    assert status == 200, updated
    assert (updated["answer"], updated["channels"]) == ("1~2일이면 도착해요.", ["kakao"])
    status, _ = await _request(notifier, "DELETE", f"/api/faq/{entry['id']}")
    assert status == 204
    status, error = await _request(notifier, "GET", f"/api/faq/{entry['id']}")
    assert (status, error["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/faq"), ("PUT", "/api/faq/{id}"), ("DELETE", "/api/faq/{id}")],
    ids=["create", "update", "delete"],
)
async def test_agents_may_not_write_entries(
    notifier: NotifierHarness, method: str, path: str
) -> None:
    _, entry = await _request(notifier, "POST", "/api/faq", SHIPPING)
    status, error = await _request(
        notifier, method, path.format(id=entry["id"]), COUPON, agent="junho"
    )
    assert (status, error["code"]) == (403, "forbidden")
    _, listed = await _request(notifier, "GET", "/api/faq")
    assert [e["question"] for e in listed["items"]] == [SHIPPING["question"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SHIPPING, "answer": "{{customer.nickname}}님"}, "answer"),
        (
            {**SHIPPING, "active_from": "2026-12-02T00:00:00+09:00", "active_until": "2026-12-01"},
            "",
        ),
        ({**SHIPPING, "question": ""}, "question"),
    ],
    ids=["unknown-placeholder", "window-backwards", "blank-question"],
)
async def test_bad_entries_get_a_clear_error(
    notifier: NotifierHarness, body: dict[str, Any], field: str
) -> None:
    status, error = await _request(notifier, "POST", "/api/faq", body)
    assert status == 422, error
    assert any(field in e["field"] for e in error["errors"]), error
    _, listed = await _request(notifier, "GET", "/api/faq")
    assert listed["items"] == []


async def test_match_answers_paraphrases_and_hands_people_to_agents(
    notifier: NotifierHarness,
) -> None:
    _, shipping = await _request(notifier, "POST", "/api/faq", SHIPPING)
    await _request(notifier, "POST", "/api/faq", COUPON)
    asked = {"text": "배송 며칠걸려요?"}
    status, result = await _request(notifier, "POST", "/api/faq/match", asked)
    assert status == 200, result
    assert result["matches"][0]["faq_id"] == shipping["id"]
    assert result["matches"][0]["answer"] == SHIPPING["answer"]
    assert result["auto"] is True
    _, person = await _request(
        notifier, "POST", "/api/faq/match", {"text": "배송 언제 와요 상담원 연결해주세요"}
    )
    assert person["auto"] is False
    _, mail = await _request(
        notifier, "POST", "/api/faq/match", {"text": "배송 며칠걸려요?", "channel": "mail"}
    )
    assert (mail["matches"][0]["faq_id"], mail["auto"]) == (shipping["id"], False)


async def test_an_entry_outside_its_window_is_not_matched(notifier: NotifierHarness) -> None:
    past = utcnow() - timedelta(days=3)
    promo = {
        **SHIPPING,
        "active_from": (past - timedelta(days=7)).isoformat(),
        "active_until": past.isoformat(),
    }
    await _request(notifier, "POST", "/api/faq", promo)
    _, result = await _request(notifier, "POST", "/api/faq/match", {"text": "배송 며칠걸려요?"})
    assert result == {"matches": [], "auto": False}


async def test_bot_answer_resolves_and_the_next_message_reopens_for_agents(
    notifier: NotifierHarness,
) -> None:
    answer = BotAnswer(faq_id="f1", score=0.8, text="결제 후 1~3일 안에 받아보실 수 있어요.")
    first = notifier.routed(1, "c1", channel="naver_talktalk", bot_answer=answer)
    await notifier.publish(first)
    conv = await notifier.wait_for(
        "/api/conversations/c1", lambda b: b["status"] == "resolved" and b["message_count"] == 2
    )
    assert "bot_answered" in conv["tags"]
    bot = conv["messages"][-1]
    assert (bot["author"], bot["direction"], bot["kind"]) == ("bot", "out", "message")
    assert bot["text"] == answer.text
    assert conv["sla"]["first_response_at"] is None  # the bot is not an agent's response
    # The customer writes again: the conversation is an agent's, with a running clock.
    again = notifier.routed(2, "c1", created=False, channel="naver_talktalk")
    await notifier.publish(again)
    conv = await notifier.wait_for("/api/conversations/c1", lambda b: b["status"] == "open")
    assert conv["sla"]["first_response_due"] is not None
    assert conv["message_count"] == 3


async def test_conversation_detail_suggests_rendered_answers(notifier: NotifierHarness) -> None:
    _, shipping = await _request(notifier, "POST", "/api/faq", SHIPPING)
    await _request(notifier, "POST", "/api/faq", COUPON)
    await notifier.publish(notifier.routed(1, "c1", text="배송 보통 며칠 걸려요?"))
    conv = await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    assert 1 <= len(conv["suggestions"]) <= 3
    best = conv["suggestions"][0]
    assert best["faq_id"] == shipping["id"]
    assert best["answer"] == "김민수님, 결제 후 1~3일 안에 받아보실 수 있어요."
    assert conv["status"] == "open"  # mail: a suggestion for the agent, never a bot answer


async def test_a_redelivered_bot_answer_is_stored_and_sent_once(notifier: NotifierHarness) -> None:
    answer = BotAnswer(faq_id="f1", score=0.8, text="배송비는 3,000원이에요.")
    routed = notifier.routed(1, "c1", channel="naver_talktalk", bot_answer=answer)
    await notifier.publish(routed)
    await notifier.wait_for("/api/conversations/c1", lambda b: b["status"] == "resolved")
    await notifier.publish(routed, msg_id="routed:again")  # the router published it twice
    await notifier.publish(notifier.routed(2, "c1", created=False, channel="naver_talktalk"))
    conv = await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 3)
    assert [m["author"] for m in conv["messages"]].count("bot") == 1
    assert conv["status"] == "open"  # the redelivery did not resolve it again
