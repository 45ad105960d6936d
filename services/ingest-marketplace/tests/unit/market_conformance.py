"""What the three marketplaces share for the conformance suite: a fixture's raw item (or
list answer) through the board's normaliser, and a simulator with a question to answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from inbox_core.connector import Channel, PollingChannel
from inbox_core.embedded import free_port
from inbox_core.schema import Customer, OutboundReply
from inbox_core.testing.conformance import (
    Exempt,
    PollPlatform,
    SendFault,
    SendPlatform,
)
from inbox_core.testing.http import serve

FIXTURES = Path(__file__).parents[1] / "fixtures"
NO_VERIFY = Exempt("a marketplace is polled with our credentials; no request reaches us to verify")
# The simulators answer an injected fault with the platform's own error body.
FAULTS: dict[SendFault, dict[str, Any]] = {
    SendFault.RATE_LIMITED: {"status": 429, "retry_after": 7},
    SendFault.SERVER_ERROR: {"status": 500},
    SendFault.UNAVAILABLE: {"status": 503},
    SendFault.REFUSED: {"status": 400},
    SendFault.CREDENTIALS_REFUSED: {"status": 401},
}


def since_of(state: Mapping[str, Any]) -> datetime:
    """How far a board cursor has read: its forward edge."""
    return datetime.fromisoformat(str(state["since"]))


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


@dataclass
class Market:
    """One simulator and how the conformance suite drives it."""

    app: web.Application
    api_prefix: str  # where the platform API lives under the simulator's root
    channel_at: Callable[[str], PollingChannel]  # the channel with its API at this URL
    ask: Callable[[str], str]  # a customer asks on the polled board; its thread key token id
    thread_key: Callable[[str], str]
    answer_call: str  # a substring of "METHOD /path" of the answer call (faults hit only it)
    board: str
    reply_context: dict[str, Any] = field(default_factory=dict)


def market_platforms(
    market: Callable[[], Market], channel: str, account: str
) -> tuple[
    Callable[[], Any],
    Callable[[], Any],
]:
    """The `send` and `poll` factories of a ChannelSpec for one marketplace."""

    @asynccontextmanager
    async def send() -> AsyncIterator[SendPlatform]:
        m = market()
        async with serve(m.app) as root:
            question = m.ask("사이즈 문의드려요. 평소 270 신어요.")

            async def fail(fault: SendFault, http: aiohttp.ClientSession) -> None:
                spec = {**FAULTS[fault], "times": 5, "match": m.answer_call}
                async with http.post(f"{root}/_sim/faults", json=spec) as resp:
                    assert resp.status == 201

            def channel_at(base: str) -> Channel:
                return m.channel_at(base)

            reply = OutboundReply(
                conversation_id="c-1",
                channel=channel,
                account=account,
                customer=Customer(id="hong****"),
                thread_keys=[m.thread_key(question)],
                text="270 사이즈 추천드려요. 정사이즈입니다.",
                agent="민지",
                context=m.reply_context,
            )
            closed = f"http://127.0.0.1:{free_port()}{m.api_prefix}"
            yield SendPlatform(root + m.api_prefix, channel_at, reply, fail, closed_url=closed)

    @asynccontextmanager
    async def poll() -> AsyncIterator[PollPlatform]:
        m = market()
        async with serve(m.app) as root:

            async def add(n: int) -> None:
                for i in range(n):
                    m.ask(f"재입고 문의 {i + 1}: 블랙 언제 들어오나요?")

            yield PollPlatform(m.channel_at(root + m.api_prefix), m.board, add, since_of)

    return send, poll
