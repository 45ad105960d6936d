"""Fault injection over the whole stack as processes, continued: a poison message on the way
to the dead letters and back, and marketplace polls repeated by kill -9 of the poller."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import nats
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.testing.stack import PAGE, TOKEN, StackHarness, running_stack
from inbox_ingest_marketplace.simulators import coupang as coupang_sim

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def eventually(
    check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.3
) -> Any:
    """Call (and await) `check` until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {what}")
        await asyncio.sleep(every)


def assert_exactly_once(stored: list[str], expected: list[str]) -> None:
    counts = Counter(stored)
    missing = sorted(set(expected) - set(counts))
    twice = sorted(k for k, c in counts.items() if c > 1)
    extra = sorted(set(counts) - set(expected))
    assert not missing, f"lost {len(missing)}: {missing[:5]}"
    assert not twice, f"duplicated {len(twice)}: {twice[:5]}"
    assert not extra, f"unexpected {len(extra)}: {extra[:5]}"


def utc(value: datetime) -> datetime:
    """A datetime read back from the store (naive, UTC) or the API (aware)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- 1. a poison message ------------------------------------------------------------------

POISON_PSID = "psid-poison-customer"
GOOD = 100


async def _dead_letters(http: aiohttp.ClientSession, h: StackHarness) -> list[dict[str, Any]]:
    async with http.get(f"{h.api}/api/dead-letters", headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()
        items: list[dict[str, Any]] = (await resp.json())["items"]
        return items


async def _conversation(
    http: aiohttp.ClientSession, h: StackHarness, conversation_id: str
) -> dict[str, Any]:
    async with http.get(f"{h.api}/api/conversations/{conversation_id}", headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def _replay(http: aiohttp.ClientSession, h: StackHarness, letter_id: str) -> dict[str, Any]:
    async with http.post(
        f"{h.api}/api/dead-letters/{letter_id}/replay", json={}, headers=AUTH
    ) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def test_poison_is_dead_lettered_others_flow_and_replay_after_the_fix_stores_it() -> None:
    """The poison: a conversation document an operator's script damaged. A shop closes
    stale conversations with a one-off script in the Mongo shell and quotes the date, so
    `resolved_at` is stored as the *string* "2026-…Z" instead of a date. Nothing fails until
    that customer writes again: the router finds the resolved conversation, computes how
    long ago it was resolved (reopen rules 1–3) and raises TypeError (datetime − str) on
    every delivery. That is not an outage and not a PermanentError, so the message is
    retried with backoff, dead-lettered after INBOX_MAX_DELIVER (3) deliveries, and shown
    in `GET /api/dead-letters` with the error. The fix is the operator's: turn the string
    back into a date. Then `POST /api/dead-letters/{id}/replay` puts the message back on
    its subject; the router reopens the conversation and the message is stored once.

    Meanwhile 100 other customers' webhooks keep flowing: the router handles other thread
    keys while the poison waits for its retries (only its own thread's chain is held).
    The nak backoff is widened (1 s, 2 s) so "while it is retried" is seconds, not ms."""
    env = {"INBOX_NAK_DELAY_S": "1", "INBOX_NAK_MAX_DELAY_S": "2"}
    async with running_stack(env) as h, aiohttp.ClientSession() as http:
        # The customer's first message: a conversation in the queue.
        await h.deliver(http, h.webhook_body("poison-first", psid=POISON_PSID))
        await h.wait_stored(["m_poison-first"], timeout=30)
        [first] = await asyncio.to_thread(
            h.find_documents, "messages", {"external_id": "m_poison-first"}
        )
        conversation_id = str(first["conversation_id"])

        # The operator's clean-up script: resolved, with the date as a string.
        resolved = datetime.now(UTC) - timedelta(hours=1)
        damaged = await asyncio.to_thread(
            h.edit_documents,
            "conversations",
            {"_id": conversation_id},
            {"$set": {"status": "resolved", "resolved_at": resolved.isoformat()}},
        )
        assert damaged == 1

        # 100 good messages from other customers, the same customer's reply in the middle.
        order = [f"good{i}" for i in range(GOOD)]
        order.insert(GOOD // 2, "poison-second")
        todo: asyncio.Queue[str] = asyncio.Queue()
        for tag in order:
            todo.put_nowait(tag)

        async def sender() -> None:
            while not todo.empty():
                tag = todo.get_nowait()
                psid = POISON_PSID if tag.startswith("poison") else None
                await h.deliver(http, h.webhook_body(tag, psid=psid))

        await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(8))), timeout=60)
        good = [f"m_good{i}" for i in range(GOOD)]
        await h.wait_stored(good, timeout=60)

        letters = await eventually(
            lambda: _dead_letters(http, h), timeout=30, what="the poison in the dead letters"
        )
        assert len(letters) == 1, letters
        letter = letters[0]
        assert letter["stream"] == subjects.STREAM_INBOUND and letter["consumer"] == "router"
        assert letter["subject"] == subjects.inbound("facebook", PAGE)
        assert letter["error"].startswith("TypeError:") and "str" in letter["error"]
        assert letter["deliveries"] == 3  # INBOX_MAX_DELIVER of the harness
        assert letter["replayed_at"] is None
        assert "m_poison-second" in letter["data_preview"]

        # Every good message once; the poison not stored; the others did not wait for it.
        stored = await asyncio.to_thread(h.stored_external_ids, "facebook")
        assert_exactly_once(stored, [*good, "m_poison-first"])
        failed_at = datetime.fromisoformat(letter["failed_at"])
        after = order[order.index("poison-second") + 1 :]
        docs = await asyncio.to_thread(
            h.find_documents, "messages", {"external_id": {"$in": [f"m_{t}" for t in after]}}
        )
        overtook = [d for d in docs if utc(d["stored_at"]) < failed_at]
        assert len(overtook) >= len(after) // 2, (
            f"only {len(overtook)} of the {len(after)} messages sent after the poison were "
            f"stored before it was dead-lettered at {failed_at}"
        )

        # The fix: the date becomes a date again (every damaged document, as a repair does).
        for doc in await asyncio.to_thread(
            h.find_documents, "conversations", {"resolved_at": {"$type": "string"}}
        ):
            repaired = datetime.fromisoformat(doc["resolved_at"])
            await asyncio.to_thread(
                h.edit_documents,
                "conversations",
                {"_id": doc["_id"]},
                {"$set": {"resolved_at": repaired}},
            )
        assert (
            await asyncio.to_thread(
                h.find_documents, "conversations", {"resolved_at": {"$type": "string"}}
            )
            == []
        )

        replayed = await _replay(http, h, letter["id"])
        assert replayed["subject"] == letter["subject"]
        await h.wait_stored(["m_poison-second"], timeout=30)

        async def reopened() -> dict[str, Any] | None:
            conv = await _conversation(http, h, conversation_id)
            return conv if conv["status"] == "open" and conv["message_count"] == 2 else None

        conv = await eventually(reopened, timeout=15, what="the conversation reopened")
        customer = [m for m in conv["messages"] if m["direction"] == "in"]
        assert [m["external_id"] for m in customer] == ["m_poison-first", "m_poison-second"]

        # The letter stays listed, marked replayed. A second replay (a double click) stores
        # nothing twice: the router and the notifier are idempotent on the message's id.
        [listed] = await _dead_letters(http, h)
        assert listed["id"] == letter["id"] and listed["replayed_at"] is not None
        await _replay(http, h, letter["id"])
        await asyncio.sleep(2.0)
        stored = await asyncio.to_thread(h.stored_external_ids, "facebook")
        assert_exactly_once(stored, [*good, "m_poison-first", "m_poison-second"])
        assert len(await _dead_letters(http, h)) == 1
        conv = await _conversation(http, h, conversation_id)
        assert conv["message_count"] == 2 and conv["status"] == "open"


# --- 2. duplicate marketplace polls -------------------------------------------------------

VENDOR = coupang_sim.Vendor("A00077777", "ak-faults-0001", "sk-faults-secret-0001")
ONLINE_LIST = f"/vendors/{VENDOR.vendor_id}/onlineInquiries"


@dataclass
class ListGate:
    """Holds the poller's list calls in the simulator while `holding` (a poll in flight)."""

    holding: bool = False
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    list_calls: int = 0

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "GET" and request.path.endswith(ONLINE_LIST):
            self.list_calls += 1
            if self.holding:
                self.held.set()
                await self.release.wait()
        return await handler(request)


@asynccontextmanager
async def coupang_simulator(gate: ListGate) -> AsyncIterator[tuple[str, coupang_sim.SimState]]:
    app = coupang_sim.create_app([VENDOR])
    app.middlewares.append(gate.middleware)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), app[coupang_sim.SIM_STATE]
    finally:
        gate.release.set()
        await server.close()


def ask(state: coupang_sim.SimState, n: int, batch: str) -> list[str]:
    """`n` customers ask on the product Q&A; the external ids their messages get."""
    now = datetime.now(UTC)
    ids: list[str] = []
    for i in range(n):
        item = state.add_online(
            content=f"[{batch}-{i}] 270 신는데 275 주문하면 클까요? 재입고 예정도 있나요?",
            buyer_email=f"{batch}{i}***@na",
            inquiry_at=now - timedelta(seconds=n - i),
        )
        ids.append(f"online:{item['inquiryId']}")
    return ids


async def test_marketplace_poller_killed_mid_poll_stores_every_question_exactly_once() -> None:
    """Coupang WING online inquiries (the simulator in-process), polled every 0.3 s by the
    stack's ingest-marketplace. 50 questions are asked at once and the service is killed
    with SIGKILL as soon as the first of them is on the bus: mid-publish of the page, so
    part of it is published and the cursor is not saved. 20 more are asked while it is
    down. After the restart its first list call is held in the simulator and the service is
    killed again with the poll in flight; 10 more are asked while it is down; after the
    second restart 10 more while it runs. Every re-read page republishes what it had
    published (same `Nats-Msg-Id`, dropped by the bus; the notifier's unique dedup id
    behind it): every question is in the queue exactly once, and nothing is lost."""
    gate = ListGate()
    async with coupang_simulator(gate) as (url, sim):
        env = {
            "COUPANG_ACCESS_KEY": VENDOR.access_key,
            "COUPANG_SECRET_KEY": VENDOR.secret_key,
            "COUPANG_VENDOR_ID": VENDOR.vendor_id,
            "COUPANG_URL": url,
            "INBOX_MARKET_POLL_S": "0.3",
            # Only this account polls, whatever the developer's shell holds.
            "NAVER_COMMERCE_CLIENT_ID": "",
            "ELEVENST_API_KEY": "",
        }
        async with running_stack(env) as h:
            nc = await nats.connect(h.env["NATS_URL"])
            try:
                await _kill_mid_polls(h, sim, gate, nc)
            finally:
                await nc.close()


async def _kill_mid_polls(
    h: StackHarness, sim: coupang_sim.SimState, gate: ListGate, nc: NATS
) -> None:
    market = "ingest-marketplace"
    cursor_id = f"coupang:{VENDOR.vendor_id}:online_inquiries"
    on_bus: list[str] = []
    killed = asyncio.Event()

    async def watch(msg: Msg) -> None:
        on_bus.append((msg.headers or {}).get("Nats-Msg-Id", ""))
        if not killed.is_set():
            h.kill(market)  # SIGKILL at the first question of the page on the bus
            killed.set()

    # The poller runs: wait for a poll of the (empty) board before the questions come.
    await eventually(lambda: gate.list_calls >= 1, timeout=30, what="a first poll")
    sub = await nc.subscribe(subjects.inbound("coupang", VENDOR.vendor_id), cb=watch)
    expected = ask(sim, 50, "a")
    await asyncio.wait_for(killed.wait(), timeout=30)
    await sub.unsubscribe()
    await asyncio.sleep(0.2)  # what was in flight reaches the bus and `on_bus`
    published = len(on_bus)
    cursors = await asyncio.to_thread(h.find_documents, "cursors", {"_id": cursor_id})
    saved_known = len(cursors[0]["state"]["known"]) if cursors else 0
    assert published < 50 and saved_known == 0, (
        f"the kill came too late: {published} on the bus, {saved_known} in the saved cursor"
    )

    expected += ask(sim, 20, "b")  # asked while the service is down
    gate.holding = True
    restart = asyncio.create_task(asyncio.to_thread(h.restart, market))
    await asyncio.wait_for(gate.held.wait(), timeout=30)
    await asyncio.wait_for(restart, timeout=60)
    await asyncio.to_thread(h.kill, market)  # the list call still unanswered
    gate.holding = False
    gate.release.set()
    expected += ask(sim, 10, "c")
    await asyncio.to_thread(h.restart, market)
    expected += ask(sim, 10, "d")  # while it runs again

    async def all_stored() -> bool:
        return set(expected) <= set(await asyncio.to_thread(h.stored_external_ids, "coupang"))

    await eventually(all_stored, timeout=60, what=f"all {len(expected)} questions stored")
    polls = gate.list_calls
    await eventually(
        lambda: gate.list_calls >= polls + 4,
        timeout=20,
        what="more polls over the same questions",
    )
    assert_exactly_once(await asyncio.to_thread(h.stored_external_ids, "coupang"), expected)
    # The bus holds each question once too: the repeats were dropped by `Nats-Msg-Id`.
    js = nc.jetstream()
    info = await js.stream_info(subjects.STREAM_INBOUND)
    ids: list[str] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(subjects.STREAM_INBOUND, seq)
        if msg.subject == subjects.inbound("coupang", VENDOR.vendor_id):
            ids.append(
                (msg.headers or {})
                .get("Nats-Msg-Id", "")
                .removeprefix(f"coupang:{VENDOR.vendor_id}:")
            )
    assert_exactly_once(ids, expected)
    # …and they were repeats indeed: the running poller re-read what the killed one had
    # published (its cursor never said so) and JetStream answered "duplicate".
    assert await _bus_duplicates(h) >= published


async def _bus_duplicates(h: StackHarness) -> float:
    url = f"http://127.0.0.1:{h.env['INBOX_MARKET_PORT']}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith('inbox_bus_duplicates_total{stream="INBOUND"}'):
            return float(line.split()[-1])
    return 0.0
