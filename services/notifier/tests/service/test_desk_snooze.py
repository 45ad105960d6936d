"""Snooze: `status pending` with `until` reopens by itself at that time, after a restart of
the notifier too, and earlier when the customer writes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from inbox_core.bus import Bus
from inbox_core.schema import utcnow
from inbox_core.settings import CoreSettings
from inbox_core.testing.http import serve
from inbox_notifier.app import create_app
from inbox_notifier.settings import NotifierSettings

from .conftest import NotifierHarness as Harness
from .conftest import auth, routed_message

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def _conversation(n: NotifierHarness, conv: str = "c1") -> dict[str, Any]:
    await n.publish(n.routed(1, conv, hours=4))
    return await n.wait_for(f"/api/conversations/{conv}", lambda b: b["message_count"] == 1)


async def test_snoozed_conversation_reopens_by_itself_at_until(notifier: NotifierHarness) -> None:
    await _conversation(notifier)
    until = utcnow() + timedelta(seconds=1.5)
    status, body = await notifier.post(
        "/api/conversations/c1/status", {"status": "pending", "until": until.isoformat()}
    )
    assert status == 200, body
    conv = body["conversation"]
    assert conv["status"] == "pending" and conv["sla"]["paused"] is True
    assert conv["snoozed_until"] is not None
    reopened = await notifier.wait_for(
        "/api/conversations/c1", lambda b: b["status"] == "open", timeout=15
    )
    assert reopened["snoozed_until"] is None
    assert reopened["sla"]["paused"] is False and reopened["sla"]["first_response_due"]
    events = await notifier.events(1, types="conversation.updated", team="shipping")
    assert events  # the reopening is pushed to agents like any change


async def test_customer_writing_ends_the_snooze_early_and_it_does_not_fire_later(
    notifier: NotifierHarness,
) -> None:
    await _conversation(notifier)
    until = utcnow() + timedelta(seconds=2)
    await notifier.post(
        "/api/conversations/c1/status", {"status": "pending", "until": until.isoformat()}
    )
    await notifier.publish(notifier.routed(2, "c1", created=False, text="혹시 확인되셨나요?"))
    detail = await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 2)
    assert detail["status"] == "open" and detail["snoozed_until"] is None
    # The agent puts it back to waiting without a time: the old timer must not reopen it.
    status, _ = await notifier.post("/api/conversations/c1/status", {"status": "pending"})
    assert status == 200
    await asyncio.sleep(3)  # past the old `until`, several timer ticks
    detail = await notifier.get("/api/conversations/c1")
    assert detail["status"] == "pending"


async def test_snooze_survives_a_restart_of_the_notifier(notifier_env: dict[str, str]) -> None:
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        bus = Bus(CoreSettings(), "test-client")
        await bus.connect(timeout=5)
        try:
            first = Harness(url, bus, http)
            await first.publish(routed_message(1, "c1"))
            await first.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
            until = utcnow() + timedelta(seconds=4)
            status, _ = await first.post(
                "/api/conversations/c1/status", {"status": "pending", "until": until.isoformat()}
            )
            assert status == 200
        finally:
            await bus.close(grace=1)
    # The notifier was down; a new one finds the timer in the store.
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        async with asyncio.timeout(20):
            while True:
                async with http.get(f"{url}/api/conversations/c1", headers=auth()) as r:
                    body = await r.json()
                if body["status"] == "open":
                    break
                await asyncio.sleep(0.2)
        assert body["snoozed_until"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "resolved", "until": "2099-01-01T09:00:00+09:00"}, "body"),
        ({"status": "pending", "until": "2001-01-01T09:00:00+09:00"}, "until"),
        ({"status": "pending", "until": "2099-01-01T09:00:00"}, "until"),
        ({"status": "pending", "until": "내일 아침"}, "until"),
    ],
    ids=["until_without_pending", "until_in_the_past", "until_without_offset", "until_not_a_time"],
)
async def test_bad_snooze_is_refused_and_changes_nothing(
    notifier: NotifierHarness, body: dict[str, Any], field: str
) -> None:
    await _conversation(notifier)
    status, answer = await notifier.post("/api/conversations/c1/status", body)
    assert status == 422 and answer["code"] == "validation_error", answer
    assert field in answer["errors"][0]["field"]
    detail = await notifier.get("/api/conversations/c1")
    assert detail["status"] == "open" and detail["snoozed_until"] is None
