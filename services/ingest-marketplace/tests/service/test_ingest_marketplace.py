"""ingest-marketplace against a real nats-server, the Mongo-wire store and the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from inbox_core import subjects
from inbox_core.errors import BusUnavailable
from inbox_core.schema import DeliveryReport, DeliveryStatus, InboundMessage, OutboundReply
from inbox_core.store import CURSORS, RAW

ACCOUNT = "smartstore"
INBOUND_SUBJECT = subjects.inbound("naver_commerce", ACCOUNT)
CURSOR_ID = f"naver_commerce:{ACCOUNT}:qnas"
STEP_TIMEOUT_S = 20.0


def _env(sim: Any, creds: Any, **extra: str) -> dict[str, str]:
    return {
        "NAVER_COMMERCE_CLIENT_ID": creds.client_id,
        "NAVER_COMMERCE_CLIENT_SECRET": creds.client_secret,
        "NAVER_COMMERCE_URL": sim.base_url,
        "NAVER_COMMERCE_ACCOUNT": ACCOUNT,
        # The first poll runs at start; later ones only when a test asks (poll_once).
        "INBOX_MARKET_POLL_S": "3600",
        **extra,
    }


async def _inbound(market: Any) -> list[RawStreamMsg]:
    """Every message stored on INBOUND for this account, in stream order."""
    js = market.runtime.bus.js
    async with asyncio.timeout(STEP_TIMEOUT_S):
        info = await js.stream_info(subjects.STREAM_INBOUND)
        msgs: list[RawStreamMsg] = []
        if not info.state.messages:
            return msgs
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(subjects.STREAM_INBOUND, seq)
            if msg.subject == INBOUND_SUBJECT:
                msgs.append(msg)
        return msgs


async def _stored_count(market: Any) -> int:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        info = await market.runtime.bus.js.stream_info(subjects.STREAM_INBOUND)
    return int(info.state.messages)


async def _cursor(market: Any) -> dict[str, Any] | None:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        doc = await market.runtime.store.db[CURSORS].find_one({"_id": CURSOR_ID})
    return None if doc is None else dict(doc["state"])


def _first_poll_done(market: Any) -> Callable[[], bool]:
    def check() -> bool:
        status = market.runner.status.get("qnas")
        return status is not None and status.polls >= 1

    return check


def _msg_ids(msgs: list[RawStreamMsg]) -> list[str]:
    return [(m.headers or {}).get("Nats-Msg-Id", "") for m in msgs]


def _msg_id(question: dict[str, Any]) -> str:
    return f"naver_commerce:{ACCOUNT}:qna:{question['questionId']}"


async def test_questions_arrive_on_inbound_once_each_and_a_second_poll_adds_nothing(
    naver_sim: Any, naver_credentials: Any, start_market: Any, eventually: Any
) -> None:
    now = datetime.now(UTC)
    questions = [
        naver_sim.state.add_question(
            question="키 165에 55kg인데 M 사이즈 괜찮을까요?", create_date=now - timedelta(hours=5)
        ),
        naver_sim.state.add_question(
            question="베이지 L 사이즈 재입고 언제 되나요?",
            product_name="린넨 와이드 팬츠",
            masked_writer_id="kimm****",
            create_date=now - timedelta(minutes=20),
        ),
        naver_sim.state.add_question(
            question="오늘 주문하면 언제 배송 출발하나요?", create_date=now - timedelta(minutes=2)
        ),
    ]
    market = await start_market(**_env(naver_sim, naver_credentials))

    await eventually(_first_poll_done(market), what="first poll")
    msgs = await _inbound(market)

    assert sorted(_msg_ids(msgs)) == sorted(map(_msg_id, questions))
    by_text = {
        InboundMessage.from_json(m.data).text: InboundMessage.from_json(m.data) for m in msgs
    }
    restock = by_text["베이지 L 사이즈 재입고 언제 되나요?"]
    assert restock.subject == "[상품문의] 린넨 와이드 팬츠"
    assert restock.customer.id == "kimm****"
    assert restock.thread_keys == [_msg_id(questions[1])]
    first_cursor = await _cursor(market)
    assert first_cursor is not None and first_cursor["page"] == 1

    # A second poll reads an overlapping window: the same three questions come back.
    more = await asyncio.wait_for(market.runner.poll_once("qnas"), STEP_TIMEOUT_S)

    assert more is False
    assert await _stored_count(market) == 3
    second_cursor = await _cursor(market)
    assert second_cursor is not None
    assert datetime.fromisoformat(second_cursor["since"]) > datetime.fromisoformat(
        first_cursor["since"]
    )

    # Even with the cursor's memory of what it published gone, the bus drops the repeats.
    async with asyncio.timeout(STEP_TIMEOUT_S):
        await market.runtime.store.db[CURSORS].update_one(
            {"_id": CURSOR_ID}, {"$set": {"state.known": {}}}
        )
    await asyncio.wait_for(market.runner.poll_once("qnas"), STEP_TIMEOUT_S)

    assert await _stored_count(market) == 3


async def test_question_asked_later_arrives_with_the_next_poll(
    naver_sim: Any, naver_credentials: Any, start_market: Any, eventually: Any
) -> None:
    market = await start_market(**_env(naver_sim, naver_credentials, INBOX_MARKET_POLL_S="0.2"))
    await eventually(_first_poll_done(market), what="first poll")
    assert await _inbound(market) == []

    question = naver_sim.state.add_question(question="주문 취소하고 싶은데 어떻게 하나요?")

    msgs = await eventually(lambda: _inbound(market), what="question on INBOUND")
    assert _msg_ids(msgs) == [_msg_id(question)]
    assert InboundMessage.from_json(msgs[0].data).text == "주문 취소하고 싶은데 어떻게 하나요?"


async def test_more_than_one_page_of_questions_is_read_to_the_end(
    naver_sim: Any, naver_credentials: Any, start_market: Any, eventually: Any
) -> None:
    now = datetime.now(UTC)
    questions = [
        naver_sim.state.add_question(
            question=f"{i}번째 문의: 사이즈 교환 되나요?", create_date=now - timedelta(minutes=i)
        )
        for i in range(1, 251)
    ]
    market = await start_market(**_env(naver_sim, naver_credentials))

    await eventually(_first_poll_done(market), timeout=60, what="first poll")

    msgs = await _inbound(market)
    assert len(msgs) == 250
    assert set(_msg_ids(msgs)) == set(map(_msg_id, questions))
    pages = [r for r in naver_sim.state.requests if "/v1/contents/qnas?" in r]
    assert any("page=3" in r for r in pages)
    assert not any("page=4" in r for r in pages)
    cursor = await _cursor(market)
    assert cursor is not None and cursor["page"] == 1 and cursor["window_to"] is None


async def test_bad_credentials_show_auth_failed_in_healthz_and_publish_nothing(
    naver_sim: Any, naver_credentials: Any, start_market: Any, eventually: Any
) -> None:
    naver_sim.state.add_question(question="재입고 알림 신청했는데 언제 와요?")
    env = _env(naver_sim, naver_credentials)
    env["NAVER_COMMERCE_CLIENT_SECRET"] = "$2a$04$" + "C" * 21 + "e"  # a valid salt, wrong one
    market = await start_market(**env)

    async def auth_failed() -> dict[str, Any] | None:
        resp = await market.client.get("/healthz")
        body = await resp.json()
        account = body["checks"]["pollers"]["naver_commerce"]["accounts"][ACCOUNT]
        return body if (resp.status == 200 and account["boards"]["qnas"]["auth_failed"]) else None

    body = await eventually(auth_failed, what="auth_failed in /healthz")

    assert body["status"] == "ok"  # bus and store decide; the failing platform is detail
    account = body["checks"]["pollers"]["naver_commerce"]["accounts"][ACCOUNT]
    qnas = account["boards"]["qnas"]
    assert account["status"] == "auth_failed"
    assert "UNAUTHORIZED" in qnas["last_error"]
    assert naver_credentials.client_secret not in str(body)
    assert qnas["last_success"] is None
    assert await _inbound(market) == []
    assert await _cursor(market) is None


async def test_healthz_says_the_naver_poller_is_off_without_a_client_id(
    start_market: Any,
) -> None:
    market = await start_market()

    async with asyncio.timeout(STEP_TIMEOUT_S):
        resp = await market.client.get("/healthz")
        body = await resp.json()

    assert resp.status == 200
    naver = body["checks"]["pollers"]["naver_commerce"]
    assert naver["enabled"] is False
    assert "NAVER_COMMERCE_CLIENT_ID" in naver["detail"]


async def test_bus_down_keeps_the_cursor_and_the_next_poll_after_restart_publishes(
    naver_sim: Any, naver_credentials: Any, start_market: Any, eventually: Any, nats_server: Any
) -> None:
    market = await start_market(**_env(naver_sim, naver_credentials))
    await eventually(_first_poll_done(market), what="first poll")
    before = await _cursor(market)
    questions = [
        naver_sim.state.add_question(question="배송지 변경 가능한가요?"),
        naver_sim.state.add_question(question="M 사이즈 재입고 예정 있나요?"),
    ]

    nats_server.process.kill()
    with pytest.raises(BusUnavailable):
        await asyncio.wait_for(market.runner.poll_once("qnas"), STEP_TIMEOUT_S)

    assert await _cursor(market) == before

    await asyncio.wait_for(asyncio.to_thread(nats_server.restart), 60)
    await eventually(lambda: market.runtime.bus.connected, timeout=30, what="bus reconnected")

    async def poll_succeeds() -> bool:
        try:
            await market.runner.poll_once("qnas")
        except BusUnavailable:
            return False
        return True

    await eventually(poll_succeeds, timeout=30, what="poll after restart")
    msgs = await _inbound(market)
    assert sorted(_msg_ids(msgs)) == sorted(map(_msg_id, questions))
    after = await _cursor(market)
    assert after is not None and before is not None
    assert datetime.fromisoformat(after["since"]) > datetime.fromisoformat(before["since"])


async def _delivery_report(market: Any) -> DeliveryReport | None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            msg = await market.runtime.bus.js.get_last_msg(
                subjects.STREAM_ROUTED, subjects.delivery("naver_commerce", ACCOUNT)
            )
    except NotFoundError:
        return None
    return DeliveryReport.from_json(msg.data)


async def _publish_reply(market: Any, reply: OutboundReply) -> None:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        await market.runtime.bus.publish_model(
            subjects.outbound("naver_commerce", ACCOUNT), reply, msg_id=f"reply:{reply.id}"
        )


async def test_agent_reply_is_posted_as_the_answer_and_reported_sent(
    naver_sim: Any,
    naver_credentials: Any,
    start_market: Any,
    eventually: Any,
    http: Any,
) -> None:
    question = naver_sim.state.add_question(question="키 165에 55kg인데 M 사이즈 괜찮을까요?")
    market = await start_market(**_env(naver_sim, naver_credentials))
    await eventually(_first_poll_done(market), what="first poll")
    inbound = InboundMessage.from_json((await _inbound(market))[0].data)
    reply = OutboundReply(
        conversation_id="conv-1",
        channel="naver_commerce",
        account=ACCOUNT,
        customer=inbound.customer,
        thread_keys=inbound.thread_keys,
        in_reply_to=inbound.external_id,
        text="안녕하세요 고객님, M 사이즈 추천드려요. 여유 있는 핏입니다.",
        agent="민지",
        context=inbound.context,
    )

    await _publish_reply(market, reply)

    async def answered() -> dict[str, Any] | None:
        async with http.get(f"{naver_sim.root_url}/_sim/qnas") as resp:
            items = (await resp.json())["contents"]
        item = next(i for i in items if i["questionId"] == question["questionId"])
        return item if item["answered"] else None

    item = await eventually(answered, what="answer on the simulator")
    assert item["answer"] == "안녕하세요 고객님, M 사이즈 추천드려요. 여유 있는 핏입니다."
    report = await eventually(lambda: _delivery_report(market), what="delivery report")
    assert report.status is DeliveryStatus.SENT
    assert report.reply_id == reply.id and report.conversation_id == "conv-1"


async def test_reply_to_a_question_naver_does_not_know_is_reported_failed(
    naver_sim: Any,
    naver_credentials: Any,
    start_market: Any,
    eventually: Any,
) -> None:
    market = await start_market(**_env(naver_sim, naver_credentials))
    reply = OutboundReply(
        conversation_id="conv-2",
        channel="naver_commerce",
        account=ACCOUNT,
        customer={"id": "hong****"},
        thread_keys=[f"naver_commerce:{ACCOUNT}:qna:999"],
        text="확인 후 안내드리겠습니다.",
        agent="민지",
    )

    await _publish_reply(market, reply)

    report = await eventually(lambda: _delivery_report(market), what="delivery report")
    assert report.status is DeliveryStatus.FAILED
    assert report.reply_id == reply.id
    assert "NOT_FOUND" in (report.error or "")


async def test_unreadable_question_is_kept_aside_and_does_not_block_the_others(
    naver_sim: Any, naver_credentials: Any, start_market: Any, eventually: Any
) -> None:
    good = naver_sim.state.add_question(question="교환하려면 어떻게 보내면 되나요?")
    broken = naver_sim.state.add_question(question="(곧 망가질 문의)")
    naver_sim.state.questions[broken["questionId"]]["question"] = None
    market = await start_market(**_env(naver_sim, naver_credentials))

    await eventually(_first_poll_done(market), what="first poll")

    msgs = await _inbound(market)
    assert _msg_ids(msgs) == [_msg_id(good)]
    async with asyncio.timeout(STEP_TIMEOUT_S):
        kept = await market.runtime.store.db[RAW].find_one({"channel": "naver_commerce"})
    assert kept is not None
    assert str(broken["questionId"]) in kept["error"]
    assert orjson.loads(kept["body"])["questionId"] == broken["questionId"]
