"""SLA state written field by field on the version read: a customer message applied again
(redelivered) or an agent action computed on an older read never takes back a first response
another writer stored in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from inbox_core.bus import Bus
from inbox_core.settings import CoreSettings
from inbox_core.testing.http import serve
from inbox_notifier.api import DESK
from inbox_notifier.app import create_app
from inbox_notifier.desk import Desk
from inbox_notifier.models import ReplyIn
from inbox_notifier.settings import NotifierSettings

from .conftest import NotifierHarness


@pytest.fixture
async def running(notifier_env: dict[str, str]) -> AsyncIterator[tuple[NotifierHarness, Desk]]:
    """The notifier with its desk (and the desk's queue) at hand, to time a second writer."""
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await bus.provision()
    app = create_app(NotifierSettings())
    try:
        async with serve(app) as url, aiohttp.ClientSession() as http:
            yield NotifierHarness(url, bus, http), app[DESK]
    finally:
        await bus.close(grace=1)


async def _redeliver(n: NotifierHarness, routed: Any, version: int) -> dict[str, Any]:
    """Publish the same routed message again (as a redelivery or a replay does) and wait
    until the notifier has applied it."""
    await n.publish(routed, msg_id=f"again:{routed.message.dedup_id}")
    return await n.wait_for(
        f"/api/conversations/{routed.conversation_id}", lambda b: b["version"] > version
    )


async def test_redelivered_customer_message_after_the_first_response_keeps_it(
    running: tuple[NotifierHarness, Desk],
) -> None:
    n, _ = running
    first = n.routed(1, "c1")
    await n.publish(first)
    await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    status, replied = await n.post("/api/conversations/c1/reply", {"text": "오늘 출고됩니다."})
    assert status == 201, replied
    answered_at = replied["conversation"]["sla"]["first_response_at"]
    assert answered_at is not None

    after = await _redeliver(n, first, replied["conversation"]["version"])

    assert after["message_count"] == 1
    assert after["sla"]["first_response_at"] == answered_at
    # The message was answered by that reply: it starts no next-response clock.
    assert after["sla"]["next_response_due"] is None
    assert after["sla"]["breached"] is False


async def test_reply_between_a_redelivery_read_and_its_write_is_kept(
    running: tuple[NotifierHarness, Desk], monkeypatch: pytest.MonkeyPatch
) -> None:
    n, desk = running
    await n.publish(n.routed(1, "c1"))
    await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    second = n.routed(2, "c1", created=False)
    await n.publish(second)
    before = await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 2)
    assert before["sla"]["first_response_at"] is None

    # A redelivery recounts the conversation's messages between reading the conversation
    # and writing it: the agent's reply lands exactly there (version +1, the redelivery +1).
    queue = desk.queue
    count = queue._count
    replies: list[dict[str, Any]] = []

    async def count_while_an_agent_replies(conversation_id: str) -> int:
        if not replies:
            status, body = await n.post("/api/conversations/c1/reply", {"text": "확인했습니다."})
            assert status == 201, body
            replies.append(body)
        return await count(conversation_id)

    monkeypatch.setattr(queue, "_count", count_while_an_agent_replies)
    after = await _redeliver(n, second, before["version"] + 1)

    assert replies, "the redelivery did not recount"
    assert (
        after["sla"]["first_response_at"] == replies[0]["conversation"]["sla"]["first_response_at"]
    )
    assert after["sla"]["next_response_due"] is None
    assert after["message_count"] == 2


async def test_resolve_computed_before_a_reply_landed_keeps_the_first_response(
    running: tuple[NotifierHarness, Desk], monkeypatch: pytest.MonkeyPatch
) -> None:
    n, desk = running
    await n.publish(n.routed(1, "c1"))
    await n.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)

    # Junho resolves; between his read of the conversation and his write, Minji's reply
    # (the first response) is stored.
    read = desk.conversation
    replied: list[dict[str, Any]] = []

    async def read_then_a_reply_lands(conv_id: str) -> dict[str, Any]:
        doc = await read(conv_id)
        if not replied:
            replied.append({})
            conv, _ = await desk.reply(conv_id, ReplyIn(text="오늘 출고됩니다."), "minji")
            replied[0] = conv
        return doc

    monkeypatch.setattr(desk, "conversation", read_then_a_reply_lands)
    async with asyncio.timeout(10):
        status, body = await n.post(
            "/api/conversations/c1/status", {"status": "resolved"}, agent="junho"
        )
    assert status == 200, body

    resolved = await n.get("/api/conversations/c1")
    assert resolved["status"] == "resolved"
    assert resolved["sla"]["first_response_at"] is not None
    assert replied[0]["sla"]["first_response_at"] is not None
    replies = [m for m in resolved["messages"] if m["direction"] == "out"]
    assert [m["author"] for m in replies] == ["minji"]
