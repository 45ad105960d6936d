"""Replicas keep per-thread order: 3 routers and 2 notifiers, 100 customers writing 10
messages each in bursts, one router killed with SIGKILL mid-run. Every thread ends up in one
conversation with every message once, and its messages reach the queue (the event stream
agents watch) in the order the customer sent them."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import aiohttp
import nats
import pytest

from inbox_core.testing.stack import StackHarness, assert_exactly_once, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

THREADS = 100
PER_THREAD = 10
REPLICAS = {"router": 3, "notifier": 2}
KILLED = "router-2"


async def _message_events(h: StackHarness, want: int, timeout: float) -> list[dict[str, Any]]:
    """The customer messages' `message.created` events, in stream order, each id once."""
    nc = await nats.connect(h.env["NATS_URL"])
    events: dict[str, dict[str, Any]] = {}
    try:
        sub = await nc.jetstream().subscribe("inbox.events.message.created", ordered_consumer=True)
        async with asyncio.timeout(timeout):
            while len(events) < want:
                body = json.loads((await sub.next_msg(timeout=timeout)).data)
                message = body.get("message") or {}
                if message.get("kind") == "message" and message.get("direction") == "in":
                    events.setdefault(body["id"], body)
    finally:
        await nc.close()
    return list(events.values())


async def test_replicas_keep_every_thread_in_order_when_one_is_killed() -> None:
    # A dead replica's partitions move after 3 s; its unacked messages are due after 15 s.
    env = {"INBOX_LEASE_S": "3", "INBOX_ACK_WAIT_S": "15"}
    async with running_stack(env, replicas=REPLICAS) as h:
        names = sorted(p.name for p in h.stack.services)
        assert {"router-2", "router-3", "notifier-2"} <= set(names), names
        accepted = 0
        half = asyncio.Event()
        slots = asyncio.Semaphore(25)

        async def customer(http: aiohttp.ClientSession, t: int) -> None:
            nonlocal accepted
            async with slots:  # a burst: this customer's messages one right after another
                for i in range(PER_THREAD):
                    await h.deliver(http, h.webhook_body(f"r{t}-{i}", psid=f"psid-r{t}"))
                    accepted += 1
                    if accepted >= THREADS * PER_THREAD // 3:
                        half.set()

        async def kill_mid_run() -> None:
            await half.wait()
            h.kill(KILLED)  # SIGKILL: its partitions are taken over when its leases expire

        async with aiohttp.ClientSession() as http:
            await asyncio.wait_for(
                asyncio.gather(kill_mid_run(), *(customer(http, t) for t in range(THREADS))),
                timeout=300,
            )
        expected = [f"m_r{t}-{i}" for t in range(THREADS) for i in range(PER_THREAD)]
        stored = await h.wait_stored(expected, timeout=240)
        assert_exactly_once(stored, expected)

        # One conversation per thread, none shared.
        messages = await asyncio.to_thread(
            h.find_documents, "messages", {"kind": "message", "direction": "in"}
        )
        by_thread: dict[str, set[str]] = defaultdict(set)
        for m in messages:
            by_thread[m["external_id"].split("-")[0]].add(m["conversation_id"])
        assert all(len(c) == 1 for c in by_thread.values()), {
            t: c for t, c in by_thread.items() if len(c) != 1
        }
        assert len({next(iter(c)) for c in by_thread.values()}) == THREADS

        # In order: each conversation's messages reached the queue as the customer sent them.
        events = await _message_events(h, len(expected), timeout=120)
        order: dict[str, list[int]] = defaultdict(list)
        for event in events:
            tag = event["message"]["external_id"].removeprefix("m_")
            order[event["conversation_id"]].append(int(tag.split("-")[1]))
        assert len(order) == THREADS
        out_of_order = {c: seen for c, seen in order.items() if seen != list(range(PER_THREAD))}
        assert not out_of_order, out_of_order
