"""Kakao end to end on a real bus and store, with the Kakao simulator as Open Builder, the
callback API and a 상담톡 dealer: skill request in → bus → reply out → what the customer saw."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from inbox_core.schema import Customer, DeliveryStatus, InboundMessage, OutboundReply
from inbox_ingest_social.simulators.kakao import build_skill_payload

BOT = "5ae9b76d7409b11ec845b746"
USER_KEY = "T8x9DhjAiBrv"
SKILL_TOKEN = "svc-skill-token"

Get = Callable[[aiohttp.ClientSession, str], Awaitable[Any]]
Post = Callable[[aiohttp.ClientSession, str, Any], Awaitable[Any]]


async def _utter(
    post: Post, http: aiohttp.ClientSession, sim: str, service: Any, text: str, **spec: Any
) -> dict[str, Any]:
    body = {"target": f"{service.url}/webhooks/kakao", "utterance": text, **spec}
    return dict(await post(http, f"{sim}/_sim/utter", body))


def _reply(message: InboundMessage | None = None, text: str = "", **context: Any) -> OutboundReply:
    """A reply as the notifier publishes it: the inbound context's callback keys carried."""
    carried = {
        key: message.context[key]
        for key in ("kakao_callback_url", "kakao_callback_expires_at")
        if message is not None and key in message.context
    }
    return OutboundReply(
        conversation_id="conv-kakao-1",
        channel="kakao",
        account=BOT,
        customer=Customer(id=message.customer.id if message else USER_KEY),
        text=text or "반품은 마이페이지 > 주문내역에서 신청하실 수 있어요.",
        agent="auto-reply",
        context={**carried, **context},
    )


async def test_skill_request_is_on_the_bus_and_answered_with_a_skill_response(
    start_service: Callable[..., Awaitable[Any]],
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
) -> None:
    service = await start_service(kakao_ack_text="문의 접수! 순서대로 답변드릴게요 🙂")
    answer = await _utter(sim_post, http, kakao_sim, service, "주문한 니트 배송 언제 되나요?")
    assert (answer["status"], answer["problems"]) == (200, [])
    assert answer["body"]["template"]["outputs"] == [
        {"simpleText": {"text": "문의 접수! 순서대로 답변드릴게요 🙂"}}
    ]
    message, msg = await streams.inbound("kakao", BOT)
    assert msg.headers["Nats-Msg-Id"] == f"kakao:{BOT}:{message.external_id}"
    assert message.text == "주문한 니트 배송 언제 되나요?"
    assert message.thread_keys == [f"kakao:{BOT}:{USER_KEY}"]
    assert message.customer.id == USER_KEY


async def test_same_skill_request_twice_is_stored_once(
    service: Any, streams: Any, http: aiohttp.ClientSession
) -> None:
    callback = f"https://bot-api.kakao.com/v1/bots/{BOT}/callback/same-request"
    body = json.dumps(build_skill_payload("환불 문의드려요", callback_url=callback)).encode()
    headers = {"Content-Type": "application/json", "X-Skill-Token": SKILL_TOKEN}
    for _ in range(2):
        async with http.post(f"{service.url}/webhooks/kakao", data=body, headers=headers) as resp:
            assert resp.status == 200
    await streams.inbound("kakao", BOT)
    assert await streams.count() == 1


@pytest.mark.parametrize("token", ["wrong-token", ""], ids=["wrong_token", "no_token"])
async def test_bad_skill_token_is_401_and_nothing_is_published(
    token: str,
    service: Any,
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
) -> None:
    answer = await _utter(sim_post, http, kakao_sim, service, "안녕하세요", skill_token=token)
    assert answer["status"] == 401
    assert await streams.count() == 0


async def test_bus_down_is_503_then_the_retry_is_accepted(
    service: Any,
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_post: Post,
    nats_server: Any,
) -> None:
    nats_server.process.kill()
    answer = await _utter(sim_post, http, kakao_sim, service, "재입고 언제 되나요?")
    assert answer["status"] == 503
    await asyncio.wait_for(asyncio.to_thread(nats_server.restart), 45)
    async with asyncio.timeout(30):
        while True:  # the customer sends again until the service has reconnected
            answer = await _utter(sim_post, http, kakao_sim, service, "재입고 언제 되나요?")
            if answer["status"] == 200:
                break
            assert answer["status"] == 503, answer
            await asyncio.sleep(0.2)
    message, _ = await streams.inbound("kakao", BOT)
    assert message.text == "재입고 언제 되나요?"


async def test_automatic_answer_reaches_the_customer_through_the_callback(
    service: Any,
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_get: Get,
    sim_post: Post,
) -> None:
    answer = await _utter(
        sim_post, http, kakao_sim, service, "반품 신청은 어떻게 하나요?", callback=True
    )
    assert (answer["status"], answer["problems"]) == (200, [])
    assert answer["body"]["useCallback"] is True
    message, _ = await streams.inbound("kakao", BOT)
    assert message.context["kakao_callback_url"] == answer["callback_url"]

    reply = _reply(message)
    await streams.reply(reply)
    report = await streams.report("kakao", BOT)
    assert (report.status, report.reply_id) == (DeliveryStatus.SENT, reply.id)
    shown = (await sim_get(http, f"{kakao_sim}/_sim/sent"))["messages"]
    assert [(s["via"], s["user_key"], s["texts"]) for s in shown] == [
        ("callback", USER_KEY, [reply.text])
    ]
    assert report.external_id  # Kakao's taskId


async def test_agent_reply_without_sender_is_reported_failed_with_the_reason(
    service: Any,
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_get: Get,
) -> None:
    reply = _reply(text="확인해보니 내일 출고 예정입니다.")
    await streams.reply(reply)
    report = await streams.report("kakao", BOT)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "KAKAO_SENDER_URL" in report.error
    assert (await sim_get(http, f"{kakao_sim}/_sim/sent"))["messages"] == []


async def test_agent_reply_goes_through_the_consult_talk_sender(
    start_service: Callable[..., Awaitable[Any]],
    kakao_sender: dict[str, str],
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_get: Get,
    sim_post: Post,
) -> None:
    service = await start_service(**kakao_sender)
    await _utter(sim_post, http, kakao_sim, service, "교환하고 싶어요", callback=True)
    message, _ = await streams.inbound("kakao", BOT)
    # the agent answers minutes later: the callback has expired
    reply = _reply(
        message, "교환 신청 도와드릴게요.", kakao_callback_expires_at="2020-01-01T00:00:00+00:00"
    )
    await streams.reply(reply)
    report = await streams.report("kakao", BOT)
    assert report.status == DeliveryStatus.SENT
    shown = (await sim_get(http, f"{kakao_sim}/_sim/sent"))["messages"]
    assert [(s["via"], s["texts"]) for s in shown if s["via"] != "skill"] == [
        ("consult", ["교환 신청 도와드릴게요."])
    ]


async def test_dealer_outage_is_retried_then_sent(
    start_service: Callable[..., Awaitable[Any]],
    kakao_sender: dict[str, str],
    kakao_sim: str,
    streams: Any,
    http: aiohttp.ClientSession,
    sim_get: Get,
    sim_post: Post,
) -> None:
    service = await start_service(**kakao_sender)
    await _utter(sim_post, http, kakao_sim, service, "배송지 변경 가능할까요?")
    await sim_post(http, f"{kakao_sim}/_sim/fail", {"status": 503, "code": "503"})
    await streams.reply(_reply(text="네, 변경해드렸습니다."))
    report = await streams.report("kakao", BOT)
    assert report.status == DeliveryStatus.SENT
    shown = (await sim_get(http, f"{kakao_sim}/_sim/sent"))["messages"]
    assert [s["texts"] for s in shown if s["via"] == "consult"] == [["네, 변경해드렸습니다."]]


async def test_dealer_refusal_is_reported_failed_with_the_dealer_reason(
    start_service: Callable[..., Awaitable[Any]],
    kakao_sender: dict[str, str],
    streams: Any,
) -> None:
    await start_service(**kakao_sender)
    # this customer never wrote to the channel: the dealer has no consultation session
    await streams.reply(_reply(text="안녕하세요, 문의 주셔서 감사합니다."))
    report = await streams.report("kakao", BOT)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "8012" in report.error


async def test_healthz_shows_kakao_config_presence(
    start_service: Callable[..., Awaitable[Any]],
    kakao_sender: dict[str, str],
    http: aiohttp.ClientSession,
    sim_get: Get,
) -> None:
    service = await start_service(**kakao_sender)
    body = await sim_get(http, f"{service.url}/healthz")
    assert body["checks"]["kakao"] == {
        "webhook": "mounted",
        "skill_token": True,
        "sender": "consult_talk",
    }
    assert SKILL_TOKEN not in json.dumps(body)
