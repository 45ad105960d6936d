"""One message from each kind of channel flows through every service, on real components:
SMTP mail, a signed Facebook webhook and a SmartStore Q&A end up as conversations with a
team and an SLA due time in the API and as `conversation.created` events on SSE."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
import uuid
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer e2e-agent-token"}  # INBOX_AGENT_TOKENS in conftest


async def _conversations(
    http: aiohttp.ClientSession, stack: Any, **params: str
) -> list[dict[str, Any]]:
    async with http.get(
        f"{stack.api}/api/conversations", headers=AUTH, params={"limit": "200", **params}
    ) as resp:
        assert resp.status == 200
        return (await resp.json())["items"]


async def _wait_conversation(
    http: aiohttp.ClientSession, stack: Any, needle: str, timeout: float = 30
) -> dict[str, Any]:
    """The conversation whose subject or preview contains `needle`, once it shows up."""
    async with asyncio.timeout(timeout):
        while True:
            for conv in await _conversations(http, stack, q=needle):
                return conv
            await asyncio.sleep(0.2)


async def _events_until(
    http: aiohttp.ClientSession, stack: Any, conversation_id: str, timeout: float = 20
) -> list[dict[str, Any]]:
    """Read the SSE stream from the beginning (Last-Event-ID: 0) until the
    conversation.created event of `conversation_id` arrives."""
    seen: list[dict[str, Any]] = []
    client_timeout = aiohttp.ClientTimeout(total=timeout + 5, sock_read=timeout)
    async with http.get(
        f"{stack.api}/api/events", headers={**AUTH, "Last-Event-ID": "0"}, timeout=client_timeout
    ) as resp:
        assert resp.status == 200
        event: dict[str, Any] = {}
        async with asyncio.timeout(timeout):
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event["sse_id"] = line[4:]
                elif line.startswith("data: "):
                    event["body"] = json.loads(line[6:])
                elif line == "" and "body" in event:
                    seen.append(event)
                    body = event["body"]
                    event = {}
                    if (
                        body["type"] == "conversation.created"
                        and body["conversation_id"] == conversation_id
                    ):
                        return seen
    raise AssertionError("no conversation.created event")


def _send_mail(
    port: int, subject: str, body: str, sender: str = "김민수 <minsu@example.com>"
) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "cs@shop.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        smtp.send_message(msg)
    return msg["Message-ID"]


def _facebook_body(
    text: str, psid: str = "6543210987654321", page: str = "104233512345678"
) -> bytes:
    now = int(time.time() * 1000)
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page,
                    "time": now,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": page},
                            "timestamp": now,
                            "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text},
                        }
                    ],
                }
            ],
        },
        ensure_ascii=False,
    ).encode()


def _sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_korean_mail_over_smtp_becomes_a_conversation_and_an_event(stack: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    await asyncio.to_thread(
        _send_mail,
        stack.smtp_port,
        f"배송 문의 {tag}",
        "11월 18일 주문했는데 아직 배송 전인가요?\n\n김민수 드림",
    )
    async with aiohttp.ClientSession() as http:
        conv = await _wait_conversation(http, stack, tag)
        assert conv["channel"] == "mail" and conv["account"] == "cs"
        assert conv["team"] == "shipping" and conv["category"] == "shipping"
        assert conv["sla"]["first_response_due"]
        assert conv["subject"] == f"배송 문의 {tag}"
        events = await _events_until(http, stack, conv["id"])
        created = events[-1]["body"]
        assert created["conversation"]["team"] == "shipping"
        assert events[-1]["sse_id"].isdigit()
        async with http.get(f"{stack.api}/api/conversations/{conv['id']}", headers=AUTH) as resp:
            detail = await resp.json()
        assert "배송 전인가요" in detail["messages"][0]["text"]


async def test_signed_facebook_webhook_is_stored_and_a_bad_signature_is_refused(
    stack: Any,
) -> None:
    tag = uuid.uuid4().hex[:8]
    bad = _facebook_body(f"환불해 주세요 위조 {tag}")
    good = _facebook_body(f"환불 요청드려요 {tag}")
    async with aiohttp.ClientSession() as http:
        url = f"{stack.social}/webhooks/facebook"
        async with http.post(
            url,
            data=bad,
            headers={
                "X-Hub-Signature-256": _sign(bad, "wrong"),
                "Content-Type": "application/json",
            },
        ) as resp:
            assert resp.status == 401
        async with http.post(
            url,
            data=good,
            headers={
                "X-Hub-Signature-256": _sign(good, stack.env["FACEBOOK_APP_SECRET"]),
                "Content-Type": "application/json",
            },
        ) as resp:
            assert resp.status == 200
        conv = await _wait_conversation(http, stack, tag)
        assert conv["channel"] == "facebook" and conv["team"] == "returns"
        assert conv["priority"] == "high" and conv["sla"]["first_response_due"]
        assert await _conversations(http, stack, q=f"위조 {tag}") == []
        events = await _events_until(http, stack, conv["id"])
        assert events[-1]["body"]["conversation"]["channel"] == "facebook"


async def test_smartstore_question_is_polled_into_a_conversation(stack: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{stack.naver_sim_url}/_sim/qnas",
            json={
                "productId": 9876543210,
                "productName": "캐시미어 라운드 니트",
                "question": f"M 사이즈 재입고 언제 되나요? {tag}",
                "maskedWriterId": "hong****",
            },
        ) as resp:
            assert resp.status in (200, 201)
        conv = await _wait_conversation(http, stack, tag)
        assert conv["channel"] == "naver_commerce" and conv["account"] == "e2eshop"
        assert conv["team"] == "product" and conv["category"] == "restock"
        assert conv["sla"]["first_response_due"]
        events = await _events_until(http, stack, conv["id"])
        assert events[-1]["body"]["conversation_id"] == conv["id"]


async def test_every_service_reports_healthy_and_exports_metrics(stack: Any) -> None:
    ports = [
        stack.env[k]
        for k in (
            "INBOX_API_PORT",
            "INBOX_SOCIAL_PORT",
            "INBOX_MAIL_HTTP_PORT",
            "INBOX_MARKET_PORT",
            "INBOX_ROUTER_PORT",
        )
    ]
    async with aiohttp.ClientSession() as http:
        for port in ports:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "inbox_bus_published_total" in await resp.text()
        async with http.get(f"{stack.api}/api/conversations") as resp:
            assert resp.status == 401


async def test_data_survives_a_restart_of_the_whole_stack(stack: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    await asyncio.to_thread(_send_mail, stack.smtp_port, f"교환 문의 {tag}", "교환 가능할까요?")
    async with aiohttp.ClientSession() as http:
        before = await _wait_conversation(http, stack, tag)
    assert await asyncio.to_thread(stack.stop) == 0
    assert stack.leftover_pids() == []
    await asyncio.to_thread(stack.start)
    async with aiohttp.ClientSession() as http:
        after = await _wait_conversation(http, stack, tag, timeout=10)
    assert after["id"] == before["id"] and after["number"] == before["number"]
