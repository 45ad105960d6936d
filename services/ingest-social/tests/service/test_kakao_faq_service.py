"""The FAQ bot in the Kakao skill on a real bus and store: a covered question is answered in
the skill response itself and the answer rides on the bus message; a conversation an agent
has, or a request for a person, gets the acknowledgement and no bot answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from inbox_core.faq import FAQ
from inbox_core.faq_examples import example_docs, example_entries
from inbox_core.schema import utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, THREADS, Store
from inbox_ingest_social.simulators.kakao import build_skill_payload

BOT = "5ae9b76d7409b11ec845b746"
USER_KEY = "T8x9DhjAiBrv"  # the simulator's default plusfriendUserKey
SKILL_TOKEN = "svc-skill-token"
ACK = "문의가 접수되었습니다. 순서대로 답변드릴게요."


@pytest.fixture
async def store(core_env: dict[str, str]) -> AsyncIterator[Store]:
    store = Store(CoreSettings())
    try:
        await asyncio.wait_for(store.wait_ready(), timeout=20)
        # The notifier owns the FAQ; this test stands in for its API.
        await asyncio.wait_for(store.db[FAQ].insert_many(example_docs(utcnow())), timeout=10)
        yield store
    finally:
        await asyncio.wait_for(store.close(), timeout=10)


@pytest.fixture
async def faq_service(
    store: Store, start_service: Callable[..., Awaitable[Any]], http: aiohttp.ClientSession
) -> Any:
    service = await start_service(kakao_ack_text=ACK)
    async with asyncio.timeout(20):
        while True:
            async with http.get(f"{service.url}/healthz") as r:
                faq = (await r.json())["checks"]["faq"]
            if faq["entries"] == len(example_entries()):
                return service
            await asyncio.sleep(0.2)


async def _ask(http: aiohttp.ClientSession, service: Any, text: str) -> dict[str, Any]:
    body = json.dumps(build_skill_payload(text)).encode()
    headers = {"Content-Type": "application/json", "X-Skill-Token": SKILL_TOKEN}
    async with http.post(f"{service.url}/webhooks/kakao", data=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


def _texts(answer: dict[str, Any]) -> list[str]:
    return [o["simpleText"]["text"] for o in answer["template"]["outputs"]]


async def test_a_covered_question_is_answered_in_the_skill_response(
    faq_service: Any, streams: Any, http: aiohttp.ClientSession
) -> None:
    answer = await _ask(http, faq_service, "반품 신청 어떻게 하나요?")
    (text,) = _texts(answer)
    assert text.startswith("상품 받으신 날부터 7일 안에")
    message, _ = await streams.inbound("kakao", BOT)
    assert message.context["bot_answer"]["faq_id"] == "return_how"
    assert message.context["bot_answer"]["text"] == text
    assert message.context["faq_checked"] is True


@pytest.mark.parametrize(
    "text", ["상담원 연결해주세요", "배송이 일주일째 안 와요"], ids=["person", "complaint"]
)
async def test_people_and_complaints_get_the_acknowledgement(
    faq_service: Any, streams: Any, http: aiohttp.ClientSession, text: str
) -> None:
    assert _texts(await _ask(http, faq_service, text)) == [ACK]
    message, _ = await streams.inbound("kakao", BOT)
    assert "bot_answer" not in message.context
    assert message.context["faq_checked"] is True


async def test_the_bot_stays_out_of_a_conversation_an_agent_has(
    faq_service: Any, store: Store, streams: Any, http: aiohttp.ClientSession
) -> None:
    await store.db[THREADS].insert_one(
        {"_id": f"kakao:{BOT}:{USER_KEY}", "conversation_id": "conv-with-agent"}
    )
    await store.db[CONVERSATIONS].insert_one({"_id": "conv-with-agent", "status": "open"})
    assert _texts(await _ask(http, faq_service, "반품 신청 어떻게 하나요?")) == [ACK]
    message, _ = await streams.inbound("kakao", BOT)
    assert "bot_answer" not in message.context
    assert message.context["faq_checked"] is True


async def test_with_a_callback_the_answer_still_comes_in_the_skill_response(
    faq_service: Any, streams: Any, http: aiohttp.ClientSession
) -> None:
    callback = f"https://bot-api.kakao.com/v1/bots/{BOT}/callback/faq-1"
    body = json.dumps(build_skill_payload("쿠폰 사용법 알려주세요", callback_url=callback)).encode()
    headers = {"Content-Type": "application/json", "X-Skill-Token": SKILL_TOKEN}
    async with http.post(f"{faq_service.url}/webhooks/kakao", data=body, headers=headers) as r:
        answer = await r.json()
    assert "useCallback" not in answer  # no waiting bubble: the answer is right there
    assert _texts(answer)[0].startswith("결제 페이지의 '쿠폰 적용'에서")
    message, _ = await streams.inbound("kakao", BOT)
    assert message.context["bot_answer"]["faq_id"] == "coupon_use"
