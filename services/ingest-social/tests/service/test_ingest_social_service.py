"""ingest-social end to end on a real bus and store: webhooks in, replies out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import nats.js.errors
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from inbox_core import subjects
from inbox_core.embedded import free_port
from inbox_core.runtime import RUNTIME
from inbox_core.schema import (
    Customer,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    OutboundReply,
)
from inbox_core.store import RAW
from inbox_core.testing.http import collect
from inbox_ingest_social.simulators.meta import build_message_event, encode

PAGE = "104857600123456"
PSID = "6543210987654321"
IG = "17841400123456789"
IGSID = "1234567890123456"
KOREAN = "안녕하세요, 어제 주문한 니트 배송이 언제 출발하나요?"

Signed = Callable[[bytes], dict[str, str]]


def _korean_body(mid: str = "m_svc_1") -> bytes:
    # Raw UTF-8 (not escaped): the signature must hold over these exact bytes.
    return json.dumps(build_message_event(PAGE, PSID, KOREAN, mid=mid), ensure_ascii=False).encode()


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text()


async def _count(js: JetStreamContext, stream: str) -> int:
    info = await js.stream_info(stream)
    return int(info.state.messages)


async def _wait_last(
    js: JetStreamContext, stream: str, subject: str, timeout: float = 15
) -> RawStreamMsg:
    async with asyncio.timeout(timeout):
        while True:
            try:
                return await js.get_last_msg(stream, subject)
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.1)


async def _sent(http: aiohttp.ClientSession, sim: str) -> list[dict[str, Any]]:
    async with http.get(f"{sim}/_sim/sent") as resp:
        return list((await resp.json())["messages"])


# -- inbound -------------------------------------------------------------------------------


async def test_signed_korean_webhook_is_on_the_bus_before_it_is_acknowledged(
    service: Any, js: JetStreamContext, http: aiohttp.ClientSession, signed: Signed
) -> None:
    body = _korean_body()
    status, text = await _post(http, f"{service.url}/webhooks/facebook", body, signed(body))
    assert (status, text) == (200, "EVENT_RECEIVED")
    msg = await _wait_last(js, "INBOUND", subjects.inbound("facebook", PAGE))
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == f"facebook:{PAGE}:m_svc_1"
    message = InboundMessage.from_json(msg.data or b"")
    assert message.text == KOREAN
    assert message.thread_keys == [f"facebook:{PAGE}:{PSID}"]
    assert message.customer.id == PSID


async def test_same_delivery_twice_is_stored_once(
    service: Any, js: JetStreamContext, http: aiohttp.ClientSession, signed: Signed
) -> None:
    body = _korean_body("m_twice")
    for _ in range(2):
        assert (await _post(http, f"{service.url}/webhooks/facebook", body, signed(body)))[0] == 200
    assert await _count(js, "INBOUND") == 1


async def test_bad_signature_is_401_and_nothing_is_published(
    service: Any, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    body = _korean_body()
    headers = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    status, text = await _post(http, f"{service.url}/webhooks/facebook", body, headers)
    assert status == 401 and "does not match" in text
    assert await _count(js, "INBOUND") == 0


async def test_malformed_json_with_good_signature_is_400_and_kept_raw(
    service: Any, js: JetStreamContext, http: aiohttp.ClientSession, signed: Signed
) -> None:
    body = b'{"object": "page", "entry": [{"id": "104857600123456", "messaging": ['
    status, _ = await _post(http, f"{service.url}/webhooks/facebook", body, signed(body))
    assert status == 400
    store = service.app[RUNTIME].store
    doc = await asyncio.wait_for(store.db[RAW].find_one({"channel": "facebook"}), 10)
    assert doc is not None and bytes(doc["body"]) == body
    assert await _count(js, "INBOUND") == 0


async def test_bus_down_is_503_then_the_retry_is_accepted(
    service: Any,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    signed: Signed,
    nats_server: Any,
) -> None:
    body = _korean_body("m_retry")
    url = f"{service.url}/webhooks/facebook"
    nats_server.process.kill()
    status, _ = await _post(http, url, body, signed(body))
    assert status == 503

    await asyncio.wait_for(asyncio.to_thread(nats_server.restart), 45)
    # Meta retries until it gets a 200; so do we, until the service has reconnected.
    async with asyncio.timeout(30):
        while True:
            status, text = await _post(http, url, body, signed(body))
            if status == 200:
                break
            assert status == 503, text
            await asyncio.sleep(0.2)
    msg = await _wait_last(js, "INBOUND", subjects.inbound("facebook", PAGE))
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == f"facebook:{PAGE}:m_retry"
    assert await _count(js, "INBOUND") == 1


@pytest.mark.parametrize(
    ("token", "status", "text"),
    [("svc-verify-token", 200, "4242"), ("not-the-token", 403, "verification failed")],
    ids=["good_token", "bad_token"],
)
async def test_verify_handshake(
    token: str, status: int, text: str, service: Any, http: aiohttp.ClientSession
) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "4242"}
    async with http.get(f"{service.url}/webhooks/facebook", params=query) as resp:
        assert (resp.status, await resp.text()) == (status, text)


async def test_body_over_the_limit_is_413(
    start_service: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
    signed: Signed,
    js: JetStreamContext,
) -> None:
    service = await start_service(max_body_bytes=2048)
    body = _korean_body().replace(KOREAN.encode(), ("가" * 1500).encode())
    status, _ = await _post(http, f"{service.url}/webhooks/facebook", body, signed(body))
    assert status == 413
    assert await _count(js, "INBOUND") == 0


async def test_instagram_message_goes_to_the_instagram_subject(
    service: Any, js: JetStreamContext, http: aiohttp.ClientSession, signed: Signed
) -> None:
    event = build_message_event(
        IG, IGSID, "이 원피스 55 사이즈 있나요?", mid="ig_m_1", object_type="instagram"
    )
    body = encode(event)
    assert (await _post(http, f"{service.url}/webhooks/instagram", body, signed(body)))[0] == 200
    msg = await _wait_last(js, "INBOUND", subjects.inbound("instagram", IG))
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == f"instagram:{IG}:ig_m_1"
    assert InboundMessage.from_json(msg.data or b"").thread_keys == [f"instagram:{IG}:{IGSID}"]


async def test_simulator_deliver_feeds_the_service(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    spec = {
        "target": f"{service.url}/webhooks/facebook",
        "page_id": PAGE,
        "psid": PSID,
        "text": "재입고 알림 신청할게요",
    }
    async with http.post(f"{meta_sim}/_sim/deliver", json=spec) as resp:
        answer = await resp.json()
    assert (answer["status"], answer["body"]) == (200, "EVENT_RECEIVED")
    msg = await _wait_last(js, "INBOUND", subjects.inbound("facebook", PAGE))
    assert InboundMessage.from_json(msg.data or b"").external_id == answer["mid"]


async def test_healthz_is_ok_and_shows_meta_config_presence(
    service: Any, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{service.url}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["checks"]["meta"] == {
        "webhook": "mounted",
        "app_secret": True,
        "verify_token": True,
        "page_token": True,
    }
    assert body["checks"]["naver_talktalk"] == {
        "webhook": "mounted",
        "token": True,
        "account": "talktalk",
        "allowed_networks": 1,
    }
    assert "svc-app-secret" not in json.dumps(body) and "ct_svc" not in json.dumps(body)


# -- outbound ------------------------------------------------------------------------------


def _reply(**context: Any) -> OutboundReply:
    return OutboundReply(
        conversation_id="conv-42",
        channel="facebook",
        account=PAGE,
        customer=Customer(id=PSID),
        text="주문하신 니트는 오늘 오후 5시에 출고됩니다. 감사합니다!",
        agent="민지",
        context=context,
    )


async def _publish_reply(js: JetStreamContext, reply: OutboundReply) -> None:
    await js.publish(
        subjects.outbound(reply.channel, reply.account),
        reply.to_json(),
        headers={"Nats-Msg-Id": f"reply:{reply.id}"},
        timeout=5,
    )


async def _report(js: JetStreamContext, channel: str = "facebook") -> DeliveryReport:
    msg = await _wait_last(js, "ROUTED", subjects.delivery(channel, PAGE))
    return DeliveryReport.from_json(msg.data or b"")


async def test_reply_reaches_send_api_and_is_reported_sent(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    reply = _reply(last_customer_message_at=recent)
    await _publish_reply(js, reply)
    report = await _report(js)
    [sent] = await _sent(http, meta_sim)
    assert (report.status, report.reply_id) == (DeliveryStatus.SENT, reply.id)
    assert report.external_id == sent["message_id"]
    assert sent["node"] == PAGE and sent["recipient_id"] == PSID
    assert sent["message"]["text"] == reply.text and sent["messaging_type"] == "RESPONSE"


async def test_reply_after_24_hours_goes_with_the_human_agent_tag(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    stale = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    await _publish_reply(js, _reply(last_customer_message_at=stale))
    report = await _report(js)
    assert report.status == DeliveryStatus.SENT, report.error
    [sent] = await _sent(http, meta_sim)
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


async def test_reply_after_7_days_is_reported_failed_with_the_reason(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    stale = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    await _publish_reply(js, _reply(last_customer_message_at=stale))
    report = await _report(js)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "outside Meta's messaging window" in report.error
    assert await _sent(http, meta_sim) == []


async def test_reply_with_rejected_token_is_reported_failed_with_graph_message(
    start_service: Callable[..., Awaitable[Any]],
    meta_sim: str,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
) -> None:
    await start_service(facebook_page_token="expired-page-token")
    await _publish_reply(js, _reply())
    report = await _report(js)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "Invalid OAuth access token" in report.error
    assert "expired-page-token" not in report.error


async def test_rate_limited_reply_is_retried_then_sent(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    spec = {
        "status": 400,
        "code": 613,
        "message": "(#613) Calls to this api have exceeded the rate limit.",
    }
    async with http.post(f"{meta_sim}/_sim/fail", json=spec) as resp:
        assert resp.status == 200
    await _publish_reply(js, _reply())
    report = await _report(js)
    assert report.status == DeliveryStatus.SENT
    assert len(await _sent(http, meta_sim)) == 1


async def test_persistent_outage_is_reported_failed_after_retries(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    spec = {"status": 500, "code": 2, "message": "Service temporarily unavailable", "count": 50}
    async with http.post(f"{meta_sim}/_sim/fail", json=spec) as resp:
        assert resp.status == 200
    await _publish_reply(js, _reply())
    report = await _report(js)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "gave up after retries" in report.error
    assert "temporarily unavailable" in report.error
    assert await _sent(http, meta_sim) == []


async def test_unavailable_user_is_reported_failed_at_once(
    service: Any, meta_sim: str, js: JetStreamContext, http: aiohttp.ClientSession
) -> None:
    spec = {"code": 551, "message": "(#551) This person isn't available right now."}
    async with http.post(f"{meta_sim}/_sim/fail", json=spec) as resp:
        assert resp.status == 200
    await _publish_reply(js, _reply())
    report = await _report(js)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "isn't available right now" in report.error
    assert "gave up" not in report.error


# -- customer names ------------------------------------------------------------------------


async def test_customer_name_is_looked_up_and_cached(
    service: Any,
    meta_sim: str,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    signed: Signed,
) -> None:
    profile = {"id": PSID, "name": "김민수", "profile_pic": "https://cdn.example/p.jpg"}
    async with http.post(f"{meta_sim}/_sim/profile", json=profile) as resp:
        assert resp.status == 200
    for mid in ("m_name_1", "m_name_2"):
        body = _korean_body(mid)
        assert (await _post(http, f"{service.url}/webhooks/facebook", body, signed(body)))[0] == 200
    msgs = await collect(js, subjects.inbound("facebook", PAGE), 2)
    names = [InboundMessage.from_json(m.data).customer.name for m in msgs]
    assert names == ["김민수", "김민수"]
    async with http.get(f"{meta_sim}/_sim/lookups") as resp:
        assert (await resp.json())["ids"] == [PSID]


async def test_failed_profile_lookup_never_fails_the_webhook(
    start_service: Callable[..., Awaitable[Any]],
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    signed: Signed,
) -> None:
    # the Graph API is unreachable for lookups; the message still goes on the bus
    service = await start_service(meta_graph_url=f"http://127.0.0.1:{free_port()}/v21.0")
    body = _korean_body("m_no_profile")
    assert (await _post(http, f"{service.url}/webhooks/facebook", body, signed(body)))[0] == 200
    msg = await _wait_last(js, "INBOUND", subjects.inbound("facebook", PAGE))
    message = InboundMessage.from_json(msg.data or b"")
    assert message.customer.name is None and message.text == KOREAN


# -- every webhook -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/webhooks/facebook", "/webhooks/instagram", "/webhooks/kakao", "/webhooks/naver-talktalk"],
    ids=["facebook", "instagram", "kakao", "naver_talktalk"],
)
async def test_every_webhook_refuses_a_body_over_the_limit(
    path: str,
    start_service: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
    js: JetStreamContext,
) -> None:
    service = await start_service(max_body_bytes=2048)
    body = json.dumps({"text": "가" * 1500}, ensure_ascii=False).encode()
    assert (await _post(http, f"{service.url}{path}", body, {}))[0] == 413
    assert await _count(js, "INBOUND") == 0


async def test_metrics_count_webhooks_per_channel(
    service: Any, http: aiohttp.ClientSession, signed: Signed
) -> None:
    body = _korean_body("m_metrics")
    assert (await _post(http, f"{service.url}/webhooks/facebook", body, signed(body)))[0] == 200
    bad = b'{"event": "block"}'
    assert (await _post(http, f"{service.url}/webhooks/naver-talktalk", bad, {}))[0] == 400
    async with http.get(f"{service.url}/metrics") as resp:
        text = await resp.text()
    for line in (
        'inbox_social_webhook_requests_total{channel="facebook"}',
        'inbox_social_webhook_requests_total{channel="naver_talktalk"}',
        'inbox_connector_received_total{channel="facebook"}',
        'inbox_connector_rejected_total{channel="naver_talktalk",reason="invalid"}',
    ):
        assert line in text


@pytest.mark.parametrize(
    "path",
    ["/webhooks/facebook", "/webhooks/instagram", "/webhooks/kakao", "/webhooks/naver-talktalk"],
)
async def test_oversized_webhook_body_is_413_and_nothing_is_published(
    service: Any, js: JetStreamContext, http: aiohttp.ClientSession, signed: Signed, path: str
) -> None:
    text = "가" * (1024 * 1024 // 3 + 10)  # just over 1 MiB of UTF-8
    body = json.dumps({"object": "page", "text": text}, ensure_ascii=False).encode()
    status, _ = await _post(http, f"{service.url}{path}", body, signed(body))
    assert status == 413
    assert await _count(js, "INBOUND") == 0
