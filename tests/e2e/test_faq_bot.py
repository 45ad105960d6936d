"""The FAQ bot on the whole stack (processes): a Kakao customer asking a covered question gets
the answer in the skill response itself; the conversation is resolved and tagged
`bot_answered`; asking for a person afterwards reopens it for agents."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from inbox_core.embedded import ManagedProcess, find_binary, free_port, port_open, wait_until
from inbox_core.faq_examples import example_entries

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer e2e-agent-token"}  # INBOX_AGENT_TOKENS in conftest
SKILL_TOKEN = "e2e-skill-token"
TALK_TOKEN = "e2e-talktalk-token"


@pytest.fixture(scope="module")
def talktalk_simulator() -> Iterator[str]:
    """The TalkTalk simulator as its own process; its send API records what the bot sends."""
    tmp = Path(tempfile.mkdtemp(prefix="inbox-e2e-talktalk-"))
    port = free_port()
    proc = ManagedProcess(
        "sim-talktalk",
        [find_binary("inbox-sim-naver-talktalk"), "--port", str(port), "--token", TALK_TOKEN],
        tmp / "sim.log",
    ).start()
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 30, "talktalk simulator", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def stack_env(talktalk_simulator: str) -> dict[str, str]:
    return {
        "KAKAO_SKILL_TOKEN": SKILL_TOKEN,
        "NAVER_TALKTALK_TOKEN": TALK_TOKEN,
        "NAVER_TALKTALK_URL": f"{talktalk_simulator}/chatbot/v1/event",
    }


@pytest.fixture(scope="module")
def faq_entries(stack: Any) -> None:
    """The example entries, created through the API, once the bot's services have them."""
    asyncio.run(asyncio.wait_for(_create_entries(stack), timeout=90))


async def _create_entries(stack: Any) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for entry in example_entries():
            body = {k: v for k, v in entry.items() if k != "key"}
            async with http.post(f"{stack.api}/api/faq", json=body, headers=AUTH) as r:
                assert r.status == 201, await r.text()

        async def loaded(url: str) -> bool:
            async with http.get(f"{url}/healthz") as r:
                return (await r.json())["checks"]["faq"]["entries"] == len(example_entries())

        router = f"http://127.0.0.1:{stack.env['INBOX_ROUTER_PORT']}"
        await _until(lambda: loaded(stack.social))
        await _until(lambda: loaded(router))


def skill_request(utterance: str, user: str = "faqUser01") -> dict[str, Any]:
    """An Open Builder SkillPayload as Kakao sends it (shared/channels/kakao.md §2)."""
    return {
        "intent": {"id": "fallback", "name": "폴백 블록"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"surface": "Kakaotalk.plusfriend"},
            "block": {"id": "fallback", "name": "폴백 블록"},
            "utterance": utterance,
            "lang": "ko",
            "user": {
                "id": f"botUserKey{user}",
                "type": "botUserKey",
                "properties": {"plusfriendUserKey": user, "isFriend": True},
            },
        },
        "bot": {"id": "5ae9b76d7409b11ec845b746", "name": "데일리핏 상담봇"},
        "action": {"id": "a1", "name": "inbox-ingress", "params": {}, "clientExtra": {}},
    }


async def _until(check: Any, timeout: float = 30) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.2)


async def test_kakao_question_answered_in_the_skill_response_then_a_person_is_asked_for(
    stack: Any, faq_entries: None
) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def ask(text: str) -> dict[str, Any]:
            async with http.post(
                f"{stack.social}/webhooks/kakao",
                json=skill_request(text),
                headers={"X-Skill-Token": SKILL_TOKEN},
            ) as r:
                assert r.status == 200, await r.text()
                return await r.json()

        answered = await ask("배송 보통 며칠 걸려요?")
        bubbles = [o["simpleText"]["text"] for o in answered["template"]["outputs"]]
        assert answered["version"] == "2.0"
        assert "평일 기준 1~3일 안에 받아보실 수 있어요" in bubbles[0]
        assert "useCallback" not in answered

        async def the_conversation(status: str, count: int) -> dict[str, Any] | None:
            params = {"channel": "kakao"}
            async with http.get(f"{stack.api}/api/conversations", params=params, headers=AUTH) as r:
                items = (await r.json())["items"]
            if not items:
                return None
            async with http.get(
                f"{stack.api}/api/conversations/{items[0]['id']}", headers=AUTH
            ) as r:
                conv: dict[str, Any] = await r.json()
            return conv if conv["status"] == status and conv["message_count"] == count else None

        conv = await _until(lambda: the_conversation("resolved", 2))
        assert "bot_answered" in conv["tags"]
        question, bot = conv["messages"]
        assert (question["direction"], question["text"]) == ("in", "배송 보통 며칠 걸려요?")
        assert (bot["author"], bot["direction"]) == ("bot", "out")
        assert bot["text"] == bubbles[0]
        assert bot["delivery"]["status"] == "sent"

        handoff = await ask("상담원 연결해주세요")
        text = handoff.get("template", {}).get("outputs", [{}])[0].get("simpleText", {})
        assert "평일 기준" not in str(text)  # the acknowledgement, not an FAQ answer
        conv = await _until(lambda: the_conversation("open", 3))
        assert conv["messages"][-1]["text"] == "상담원 연결해주세요"
        assert conv["sla"]["first_response_due"] is not None  # an agent's clock runs


async def test_talktalk_question_answered_through_the_send_api(
    stack: Any, faq_entries: None, talktalk_simulator: str
) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        webhook = {"url": f"{stack.social}/webhooks/naver-talktalk"}
        async with http.post(f"{talktalk_simulator}/_sim/webhook", json=webhook) as r:
            assert r.status == 200
        event = {"event": "send", "user": "talkFaqUser", "text": "배송비 얼마예요?"}
        async with http.post(f"{talktalk_simulator}/_sim/deliver", json=event) as r:
            assert (await r.json())["status"] == 200

        async def sent_to_customer() -> list[dict[str, Any]]:
            async with http.get(f"{talktalk_simulator}/_sim/sent") as r:
                sent = (await r.json())["messages"]
            return [m for m in sent if m["user"] == "talkFaqUser" and m["via"] == "send_api"]

        (sent,) = await _until(sent_to_customer)
        assert sent["content"]["textContent"]["text"].startswith("배송비는 3,000원이고")

        async def answered() -> dict[str, Any] | None:
            params = {"channel": "naver_talktalk", "status": "resolved"}
            async with http.get(f"{stack.api}/api/conversations", params=params, headers=AUTH) as r:
                items = (await r.json())["items"]
            if not items:
                return None
            async with http.get(
                f"{stack.api}/api/conversations/{items[0]['id']}", headers=AUTH
            ) as r:
                conv: dict[str, Any] = await r.json()
            delivered = conv["messages"][-1].get("delivery") or {}
            return conv if delivered.get("status") == "sent" else None

        conv = await _until(answered)
        assert "bot_answered" in conv["tags"]
        assert conv["messages"][-1]["author"] == "bot"
