"""The notifier against a real nats-server and Mongo-wire store: queue, API, SSE."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from inbox_core import subjects
from inbox_core.bus import ORDER_KEY_HEADER, Bus
from inbox_core.schema import (
    Customer,
    InboundMessage,
    Priority,
    RoutedMessage,
    RoutingDecision,
    SlaState,
    utcnow,
)
from inbox_core.settings import CoreSettings
from inbox_core.testing.http import serve
from inbox_notifier.app import create_app
from inbox_notifier.settings import NotifierSettings

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def bus(core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("INBOX_AGENT_TOKENS", f"minji:{TOKEN}")
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await bus.provision()
    yield bus
    await bus.close(grace=1)


def _routed(
    n: int, conv: str, *, created: bool, hours: float = 24, text: str = "배송 문의"
) -> RoutedMessage:
    received = utcnow() + timedelta(milliseconds=10 * n)  # distinct in the store's milliseconds
    message = InboundMessage(
        channel="mail",
        account="cs",
        external_id=f"m{n}@example.com",
        thread_keys=[f"mail:m{n}@example.com"],
        customer=Customer(id="kim@example.com", email="kim@example.com", name="김민수"),
        subject=f"문의 {conv}",
        text=text,
        received_at=received,
    )
    decision = RoutingDecision(
        team="shipping",
        category="shipping",
        priority=Priority.NORMAL,
        tags=["배송"],
        reasons=["rule shipping"],
        sla=SlaState(first_response_due=received + timedelta(hours=hours)),
    )
    return RoutedMessage(
        message=message,
        conversation_id=conv,
        conversation_created=created,
        customer_id="cust-1",
        decision=decision,
    )


async def _publish(bus: Bus, routed: RoutedMessage, msg_id: str | None = None) -> None:
    await bus.publish_model(
        subjects.routed("mail", "cs"),
        routed,
        msg_id=msg_id or f"routed:{routed.message.dedup_id}",
        # As the router does: one conversation's messages are handled in order.
        headers={ORDER_KEY_HEADER: routed.conversation_id},
    )


async def _wait_for(http: aiohttp.ClientSession, url: str, check: Any, timeout: float = 10) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            async with http.get(url, headers=AUTH) as resp:
                body = await resp.json()
            if check(body):
                return body
            await asyncio.sleep(0.1)


async def _read_sse(
    resp: aiohttp.ClientResponse, count: int, timeout: float = 10
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while len(events) < count:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("id: "):
                current["sse_id"] = int(line[4:])
            elif line.startswith("data: "):
                current["data"] = orjson.loads(line[6:])
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
    return events


async def test_api_refuses_requests_without_a_valid_token(bus: Bus) -> None:
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/conversations") as resp:
            assert resp.status == 401
        async with http.get(
            f"{url}/api/conversations", headers={"Authorization": "Bearer nope"}
        ) as resp:
            assert resp.status == 401
        async with http.get(f"{url}/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["checks"] == {"bus": True, "store": True}


async def test_routed_message_becomes_a_conversation_with_messages(bus: Bus) -> None:
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        await _publish(bus, _routed(1, "c1", created=True))
        await _publish(bus, _routed(2, "c1", created=False, text="주소 변경도 부탁드려요"))
        body = await _wait_for(
            http,
            f"{url}/api/conversations",
            lambda b: b["items"] and b["items"][0]["message_count"] == 2,
        )
        conv = body["items"][0]
        assert conv["team"] == "shipping" and conv["status"] == "open"
        assert conv["category"] == "shipping"
        assert conv["number"] >= 1 and conv["sla"]["first_response_due"]
        assert conv["preview"] == "주소 변경도 부탁드려요"
        async with http.get(f"{url}/api/conversations/c1", headers=AUTH) as resp:
            detail = await resp.json()
        assert [m["text"] for m in detail["messages"]] == ["배송 문의", "주소 변경도 부탁드려요"]
        assert detail["category"] == "shipping"
        assert detail["messages"][0]["direction"] == "in"
        async with http.get(f"{url}/api/conversations/nope", headers=AUTH) as resp:
            assert resp.status == 404


async def test_redelivered_message_is_stored_once(bus: Bus) -> None:
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        routed = _routed(1, "c1", created=True)
        await _publish(bus, routed, msg_id="first-try")
        await _publish(bus, routed, msg_id="second-try")  # past the bus dedup: a replay
        await _publish(bus, _routed(2, "c2", created=True))
        await _wait_for(http, f"{url}/api/conversations", lambda b: len(b["items"]) == 2)
        async with http.get(f"{url}/api/conversations/c1", headers=AUTH) as resp:
            detail = await resp.json()
        assert detail["message_count"] == 1 and len(detail["messages"]) == 1


async def test_queue_is_sorted_by_sla_due_and_pages_with_a_cursor(bus: Bus) -> None:
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        for n, hours in enumerate([24, 1, 6, 72, 3]):
            await _publish(bus, _routed(n, f"c{n}", created=True, hours=hours))
        await _wait_for(http, f"{url}/api/conversations", lambda b: len(b["items"]) == 5)
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            async with http.get(f"{url}/api/conversations", params=params, headers=AUTH) as resp:
                page = await resp.json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["c1", "c4", "c2", "c0", "c3"]
        async with http.get(
            f"{url}/api/conversations", params={"q": "문의 c3"}, headers=AUTH
        ) as resp:
            assert [c["id"] for c in (await resp.json())["items"]] == ["c3"]
        async with http.get(
            f"{url}/api/conversations", params={"team": "billing"}, headers=AUTH
        ) as resp:
            assert (await resp.json())["items"] == []


async def test_sse_streams_events_and_resumes_after_last_event_id(bus: Bus) -> None:
    async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
        timeout = aiohttp.ClientTimeout(total=30, sock_read=20)
        async with http.get(
            f"{url}/api/events", params={"access_token": TOKEN}, timeout=timeout
        ) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)  # the stream subscribes before the first publish
            await _publish(bus, _routed(1, "c1", created=True))
            first = await _read_sse(resp, 2)
        assert [e["data"]["type"] for e in first] == ["conversation.created", "message.created"]
        assert first[0]["data"]["conversation"]["team"] == "shipping"
        assert first[0]["data"]["conversation_id"] == "c1"
        # Disconnected: two more conversations arrive meanwhile.
        await _publish(bus, _routed(2, "c2", created=True))
        await _publish(bus, _routed(3, "c3", created=True))
        headers = {**AUTH, "Last-Event-ID": str(first[0]["sse_id"])}
        async with http.get(f"{url}/api/events", headers=headers, timeout=timeout) as resp:
            resumed = await _read_sse(resp, 5)
        assert resumed[0]["data"]["id"] == first[1]["data"]["id"]  # nothing skipped
        ids = [e["data"]["id"] for e in resumed]
        assert len(ids) == len(set(ids))  # nothing twice
        assert [e["sse_id"] for e in resumed] == sorted(e["sse_id"] for e in resumed)
        created = [
            e["data"]["conversation_id"]
            for e in resumed
            if e["data"]["type"] == "conversation.created"
        ]
        assert sorted(created) == ["c2", "c3"]


async def test_events_are_also_on_nats_with_the_same_ids(bus: Bus) -> None:
    from inbox_core.testing.http import collect

    async with serve(create_app(NotifierSettings())):
        await _publish(bus, _routed(1, "c1", created=True))
        msgs = await collect(bus.js, "inbox.events.>", 2)
    assert [m.subject for m in msgs] == [
        "inbox.events.conversation.created",
        "inbox.events.message.created",
    ]
    assert orjson.loads(msgs[0].data)["id"] == "conversation.created:c1"
    assert msgs[0].headers["Nats-Msg-Id"] == "conversation.created:c1"
