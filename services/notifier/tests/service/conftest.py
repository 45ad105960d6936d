"""A running notifier (real nats-server and Mongo-wire store) and helpers to feed it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
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

TOKENS = {"minji": "token-minji", "junho": "token-junho"}
ROLES = {"minji": "admin", "junho": "agent"}  # the harness acts as minji unless told


def auth(agent: str = "minji") -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[agent]}"}


def routed_message(
    n: int,
    conv: str,
    *,
    created: bool = True,
    hours: float = 24,
    text: str = "배송 문의",
    channel: str = "mail",
    account: str = "cs",
    context: dict[str, Any] | None = None,
    customer_id: str = "cust-1",
    **decision: Any,
) -> RoutedMessage:
    received = utcnow() + timedelta(milliseconds=10 * n)  # distinct in the store's milliseconds
    message = InboundMessage(
        channel=channel,
        account=account,
        external_id=f"m{n}@example.com",
        thread_keys=[f"{channel}:m{n}@example.com"],
        customer=Customer(id="kim@example.com", email="kim@example.com", name="김민수"),
        subject=f"문의 {conv}",
        text=text,
        received_at=received,
        context=context or {},
    )
    sla = SlaState(
        first_response_minutes=int(hours * 60), first_response_due=received + timedelta(hours=hours)
    )
    base = {
        "team": "shipping",
        "priority": Priority.NORMAL,
        "tags": ["배송"],
        "reasons": ["rule shipping"],
        "sla": sla,
    }
    return RoutedMessage(
        message=message,
        conversation_id=conv,
        conversation_created=created,
        customer_id=customer_id,
        decision=RoutingDecision(**{**base, **decision}),
    )


@dataclass
class NotifierHarness:
    url: str
    bus: Bus
    http: aiohttp.ClientSession

    routed = staticmethod(routed_message)

    async def publish(self, routed: RoutedMessage, msg_id: str | None = None) -> None:
        m = routed.message
        await self.bus.publish_model(
            subjects.routed(m.channel, m.account),
            routed,
            msg_id=msg_id or f"routed:{m.dedup_id}",
            # As the router does: one conversation's messages are handled in order.
            headers={ORDER_KEY_HEADER: routed.conversation_id},
        )

    async def get(self, path: str, agent: str = "minji", **params: str) -> Any:
        async with self.http.get(f"{self.url}{path}", headers=auth(agent), params=params) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def post(self, path: str, body: Any, agent: str = "minji") -> tuple[int, Any]:
        async with self.http.post(f"{self.url}{path}", headers=auth(agent), json=body) as r:
            return r.status, await r.json() if r.content_type == "application/json" else None

    async def wait_for(self, path: str, check: Any, timeout: float = 10, **params: str) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                async with self.http.get(f"{self.url}{path}", headers=auth(), params=params) as r:
                    body = await r.json() if r.status == 200 else None
                if body is not None and check(body):
                    return body
                await asyncio.sleep(0.1)

    async def events(self, count: int, timeout: float = 10, **params: str) -> list[dict[str, Any]]:
        """Read `count` SSE events from the start of the stream."""
        events: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        headers = {**auth(), "Last-Event-ID": "0"}
        t = aiohttp.ClientTimeout(total=timeout + 5, sock_read=timeout)
        async with self.http.get(
            f"{self.url}/api/events", headers=headers, params=params, timeout=t
        ) as resp:
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


@pytest.fixture
def make_routed() -> Any:
    return routed_message


@pytest.fixture
def notifier_env(core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(
        "INBOX_AGENT_TOKENS", ",".join(f"{a}:{t}:{ROLES[a]}" for a, t in TOKENS.items())
    )
    monkeypatch.setenv("INBOX_SLA_TICK_S", "0.2")
    monkeypatch.setenv("INBOX_OUTBOX_RELAY_S", "0.5")
    return core_env


@pytest.fixture
async def notifier(notifier_env: dict[str, str]) -> AsyncIterator[NotifierHarness]:
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await bus.provision()
    try:
        async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
            yield NotifierHarness(url, bus, http)
    finally:
        await bus.close(grace=1)
