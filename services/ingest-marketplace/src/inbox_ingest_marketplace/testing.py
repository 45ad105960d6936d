"""Helpers for tests of ingest-marketplace against a real bus and store (used by its tests
and by end-to-end tests): read INBOUND, cursors and delivery reports, publish replies."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from inbox_core import subjects
from inbox_core.connector import PollerRunner
from inbox_core.runtime import Runtime
from inbox_core.schema import DeliveryReport, InboundMessage, OutboundReply
from inbox_core.store import CURSORS

STEP_TIMEOUT_S = 20.0


class RunningService(Protocol):
    @property
    def runtime(self) -> Runtime: ...


async def inbound_messages(
    market: RunningService, channel: str, account: str
) -> list[RawStreamMsg]:
    """Every message stored on INBOUND for this account, in stream order."""
    js = market.runtime.bus.js
    subject = subjects.inbound(channel, account)
    async with asyncio.timeout(STEP_TIMEOUT_S):
        info = await js.stream_info(subjects.STREAM_INBOUND)
        msgs: list[RawStreamMsg] = []
        if not info.state.messages:
            return msgs
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(subjects.STREAM_INBOUND, seq)
            except NotFoundError:
                continue
            if msg.subject == subject:
                msgs.append(msg)
        return msgs


def decoded(msgs: list[RawStreamMsg]) -> list[InboundMessage]:
    return [InboundMessage.from_json(m.data or b"") for m in msgs]


async def cursor_state(market: RunningService, key: str) -> dict[str, Any] | None:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        doc = await market.runtime.store.db[CURSORS].find_one({"_id": key})
    return None if doc is None else dict(doc["state"])


async def publish_reply(market: RunningService, reply: OutboundReply) -> None:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        await market.runtime.bus.publish_model(
            subjects.outbound(reply.channel, reply.account), reply, msg_id=f"reply:{reply.id}"
        )


async def delivery_report(
    market: RunningService, channel: str, account: str
) -> DeliveryReport | None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            msg = await market.runtime.bus.js.get_last_msg(
                subjects.STREAM_ROUTED, subjects.delivery(channel, account)
            )
    except NotFoundError:
        return None
    return DeliveryReport.from_json(msg.data or b"")


def received_count(channel: str) -> float:
    """How many messages this process published for the channel (repeats included)."""
    value = REGISTRY.get_sample_value("inbox_connector_received_total", {"channel": channel})
    return value or 0.0


async def poll_all(runner: PollerRunner, board: str) -> None:
    """Poll the board until it has nothing more to read right away."""
    async with asyncio.timeout(STEP_TIMEOUT_S * 3):
        while await runner.poll_once(board):
            pass
