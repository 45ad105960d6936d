"""Routing that learns, on the whole stack: twenty conversations of a phrasing new to the router
arrive ("신발 짭 아니에요?" — is it a knock-off? — is a product question); agents move the
ones it got wrong to the product team, an admin retrains, and the next such mail, which the
router did not route to product before, is routed to the product team by the model."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer e2e-agent-token"}  # an admin (INBOX_AGENT_TOKENS in conftest)

ITEMS = (
    "신발 가방 시계 지갑 향수 모자 티셔츠 벨트 선글라스 목걸이 "
    "반지 후드 패딩 바지 니트 코트 머플러 장갑 운동화 귀걸이"
).split()

PROBE_BEFORE = "혹시 짭은 아니겠죠 ㅎㅎ"
PROBE_AFTER = "설마 짭은 아니겠죠 ㅋㅋ"


def _send_mail(port: int, sender: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "cs@shop.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        smtp.send_message(msg)


async def _conversation(
    http: aiohttp.ClientSession, stack: Any, needle: str, timeout: float = 60
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            async with http.get(
                f"{stack.api}/api/conversations", headers=AUTH, params={"q": needle}
            ) as resp:
                assert resp.status == 200
                items = (await resp.json())["items"]
            if items:
                return items[0]
            await asyncio.sleep(0.3)


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with asyncio.timeout(320):
        async with http.post(url, headers=AUTH, json=body) as resp:
            return resp.status, await resp.json()


async def test_corrections_teach_the_router_a_new_phrasing(stack: Any) -> None:
    run = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as http:
        for i, item in enumerate(ITEMS):
            _send_mail(
                stack.smtp_port,
                f"고객{i} <buyer{i}.{run}@example.com>",
                "문의드려요",
                f"{item} 짭 아니에요?",
            )
        _send_mail(stack.smtp_port, f"고객 <probe.{run}@example.com>", "문의드려요", PROBE_BEFORE)
        before = await _conversation(http, stack, PROBE_BEFORE)
        assert before["category"] != "product"  # the phrasing is new to the router
        wrong = 0
        for i in range(len(ITEMS)):
            conv = await _conversation(http, stack, f"{ITEMS[i]} 짭")
            if conv["category"] == "product":
                continue  # right already: nothing to correct
            wrong += 1
            status, body = await _post(
                http, f"{stack.api}/api/conversations/{conv['id']}/team", {"team": "product"}
            )
            assert status == 200, body
            assert body["conversation"]["category"] == "product"
            assert body["conversation"]["routing_reasons"][-1].startswith(
                f"team {conv['team']} → product by e2e"
            )
        print(f"router wrong on {wrong} of {len(ITEMS)} before the corrections")
        # Item names alone make some look like product questions; the rest need teaching.
        assert wrong >= 5

        async with http.get(f"{stack.api}/api/routing", headers=AUTH) as resp:
            status = (await resp.json())["corrections"]
        assert status["by_category"]["product"] >= wrong

        status, result = await _post(http, f"{stack.api}/api/routing/retrain", {})
        assert status == 200, result
        assert result["accepted"], result["message"]
        allowed = int(0.01 * result["heldout"]["total"])  # RETRAIN_TOLERANCE: noise
        assert result["heldout"]["correct"] >= result["previous"]["correct"] - allowed

        _send_mail(
            stack.smtp_port,
            f"새 고객 <next.{run}@example.com>",
            "문의드려요",
            PROBE_AFTER,
        )
        conv = await _conversation(http, stack, PROBE_AFTER)
        assert conv["category"] == "product" and conv["team"] == "product"
        assert any(r.startswith("model: product") for r in conv["routing_reasons"])
