"""Naver TalkTalk end to end on a real bus and store, with the TalkTalk simulator: events in,
replies out through the send API, echoes of our own replies dropped, agents' echoes kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from inbox_core import subjects
from inbox_core.runtime import RUNTIME
from inbox_core.schema import Customer, DeliveryStatus, Direction, InboundMessage, OutboundReply
from inbox_core.store import RAW
from inbox_core.testing.http import collect

USER = "al-2eGuGr5WQOnco1_V-FQ"
ACCOUNT = "talktalk"

Get = Callable[[aiohttp.ClientSession, str], Awaitable[Any]]
Post = Callable[[aiohttp.ClientSession, str, Any], Awaitable[Any]]


async def _deliver(
    post: Post, http: aiohttp.ClientSession, sim: str, service: Any, event: str, **spec: Any
) -> dict[str, Any]:
    body = {"target": f"{service.url}/webhooks/naver-talktalk", "event": event, **spec}
    return dict(await post(http, f"{sim}/_sim/deliver", body))


def _reply(
    text: str = "교환 접수 완료되었습니다. 택배 기사님이 2일 내 방문합니다.",
) -> OutboundReply:
    return OutboundReply(
        conversation_id="conv-tt-1",
        channel="naver_talktalk",
        account=ACCOUNT,
        customer=Customer(id=USER),
        text=text,
        agent="지수",
    )


async def test_customer_message_is_on_the_bus_before_the_empty_200(
    service: Any, talktalk_sim: str, streams: Any, http: aiohttp.ClientSession, sim_post: Post
) -> None:
    answer = await _deliver(
        sim_post, http, talktalk_sim, service, "send", text="사이즈 교환 가능한가요? M에서 L로요"
    )
    assert (answer["status"], answer["body"]) == (200, "")
    message, msg = await streams.inbound("naver_talktalk", ACCOUNT)
    assert msg.headers["Nats-Msg-Id"] == f"naver_talktalk:{ACCOUNT}:{message.external_id}"
    assert message.text == "사이즈 교환 가능한가요? M에서 L로요"
    assert message.thread_keys == [f"naver_talktalk:{ACCOUNT}:{USER}"]


async def test_same_event_delivered_twice_is_stored_once(
    service: Any, streams: Any, http: aiohttp.ClientSession
) -> None:
    """TalkTalk gives no message id: the dedup key holds the arrival second. Two deliveries
    that straddle a second are two messages by design; then try again with a new text."""
    url = f"{service.url}/webhooks/naver-talktalk"
    for attempt in range(5):
        text = f"환불 문의드려요 ({attempt})"
        body = json.dumps({"event": "send", "user": USER, "textContent": {"text": text}})
        before = await streams.count()
        for _ in range(2):
            async with http.post(url, data=body.encode()) as resp:
                assert resp.status == 200
        stored = await streams.count() - before
        if stored == 1:
            return
        # Two copies are right only when the deliveries fell in different seconds.
        msgs = await collect(
            streams.js, subjects.inbound("naver_talktalk", ACCOUNT), await streams.count()
        )
        copies = [InboundMessage.from_json(m.data) for m in msgs]
        seconds = {m.received_at.replace(microsecond=0) for m in copies if m.text == text}
        assert (stored, len(seconds)) == (2, 2)
    pytest.fail("every attempt straddled a second boundary")


@pytest.mark.parametrize("event", ["open", "leave", "friend"], ids=["open", "leave", "friend"])
async def test_events_without_text_are_acknowledged_and_not_published(
    event: str,
    service: Any,
    talktalk_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
) -> None:
    answer = await _deliver(sim_post, http, talktalk_sim, service, event)
    assert answer["status"] == 200
    assert await streams.count() == 0


async def test_unknown_event_is_400_and_kept_raw(
    service: Any, streams: Any, http: aiohttp.ClientSession
) -> None:
    body = json.dumps({"event": "block", "user": USER}).encode()
    async with http.post(f"{service.url}/webhooks/naver-talktalk", data=body) as resp:
        assert resp.status == 400
    store = service.app[RUNTIME].store
    doc = await asyncio.wait_for(store.db[RAW].find_one({"channel": "naver_talktalk"}), 10)
    assert doc is not None and bytes(doc["body"]) == body and doc["account"] == ACCOUNT
    assert await streams.count() == 0


@pytest.mark.parametrize(
    ("allowed", "status"),
    [("211.249.40.0/27,211.249.68.0/27,220.230.168.0/27", 403), ("127.0.0.1/32", 200)],
    ids=["naver_ranges_only", "local_allowed"],
)
async def test_ip_allow_list(
    allowed: str,
    status: int,
    start_service: Callable[..., Awaitable[Any]],
    talktalk_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
) -> None:
    service = await start_service(naver_talktalk_allowed_ips=allowed)
    answer = await _deliver(sim_post, http, talktalk_sim, service, "send", text="안녕하세요")
    assert answer["status"] == status
    assert await streams.count() == (1 if status == 200 else 0)


async def test_bus_down_is_503(
    service: Any,
    talktalk_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
    nats_server: Any,
) -> None:
    nats_server.process.kill()
    answer = await _deliver(sim_post, http, talktalk_sim, service, "send", text="계세요?")
    assert answer["status"] == 503


async def test_reply_reaches_the_customer_and_its_echo_is_dropped(
    service: Any,
    talktalk_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_get: Get,
    sim_post: Post,
) -> None:
    # TalkTalk echoes every send to the registered webhook, ours included
    await sim_post(
        http, f"{talktalk_sim}/_sim/webhook", {"url": f"{service.url}/webhooks/naver-talktalk"}
    )
    reply = _reply()
    await streams.reply(reply)
    report = await streams.report("naver_talktalk", ACCOUNT)
    assert (report.status, report.reply_id) == (DeliveryStatus.SENT, reply.id)
    [sent] = (await sim_get(http, f"{talktalk_sim}/_sim/sent"))["messages"]
    assert (sent["user"], sent["content"]) == (USER, {"textContent": {"text": reply.text}})
    # the simulator posted the echo before answering the send API: it has been handled
    assert await streams.count() == 0


async def test_partner_center_agent_reply_is_recorded_as_an_agent_message(
    service: Any,
    talktalk_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
) -> None:
    target = f"{service.url}/webhooks/naver-talktalk"
    text = "네, 교환 가능합니다. 교환 신청 링크 보내드릴게요."
    answer = await sim_post(
        http, f"{talktalk_sim}/_sim/agent", {"user": USER, "text": text, "target": target}
    )
    assert answer["status"] == 200
    message, _ = await streams.inbound("naver_talktalk", ACCOUNT)
    assert (message.direction, message.flags.echo, message.text) == (Direction.OUT, True, text)
    assert message.customer.id == USER


async def test_reply_with_a_rejected_key_is_reported_failed_with_the_code(
    start_service: Callable[..., Awaitable[Any]], streams: Any
) -> None:
    await start_service(naver_talktalk_token="ct_expired_key")
    await streams.reply(_reply())
    report = await streams.report("naver_talktalk", ACCOUNT)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "TalkTalk error 01" in report.error
    assert "ct_expired_key" not in report.error


async def test_refused_reply_is_reported_failed_with_talktalk_message(
    service: Any, talktalk_sim: str, streams: Any, http: aiohttp.ClientSession, sim_post: Post
) -> None:
    failure = {"resultCode": "99", "resultMessage": "메시지를 보낼 수 없는 사용자입니다"}
    await sim_post(http, f"{talktalk_sim}/_sim/fail", failure)
    await streams.reply(_reply())
    report = await streams.report("naver_talktalk", ACCOUNT)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "메시지를 보낼 수 없는 사용자입니다" in report.error


async def test_outage_is_retried_then_sent(
    service: Any,
    talktalk_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_get: Get,
    sim_post: Post,
) -> None:
    await sim_post(http, f"{talktalk_sim}/_sim/fail", {"status": 503, "count": 2})
    await streams.reply(_reply("주문하신 상품 오늘 출고됩니다."))
    report = await streams.report("naver_talktalk", ACCOUNT)
    assert report.status == DeliveryStatus.SENT
    assert len((await sim_get(http, f"{talktalk_sim}/_sim/sent"))["messages"]) == 1
