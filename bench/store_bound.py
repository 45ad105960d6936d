"""The store's own bound: the router's and the notifier's real store work for one message
(customer, conversation resolution, message, conversation, outbox), run in-process against
the same Mongo-wire server as the pipeline, with no bus in between.

Messages per second here are the most the pipeline can reach on this store whatever the bus
does; the operation count per message (from serverStatus opcounters) says why.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from pymongo import AsyncMongoClient

from inbox_core.schema import Customer, InboundMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import Store
from inbox_notifier.queue import INDEXES as NOTIFIER_INDEXES
from inbox_notifier.queue import Queue
from inbox_router.app import Router
from inbox_router.conversations import INDEXES as ROUTER_INDEXES
from inbox_router.rules import load_rules
from inbox_router.settings import DEFAULT_RULES

PAGE = "100000000000009"


def _message(tag: str) -> InboundMessage:
    """A new customer's first Messenger message, as ingest-social publishes it."""
    return InboundMessage(
        channel="facebook",
        account=PAGE,
        external_id=f"m_{tag}",
        thread_keys=[f"facebook:{PAGE}:psid-{tag}"],
        customer=Customer(id=f"psid-{tag}"),
        text=f"배송 문의 {tag}",
        received_at=datetime.now(UTC),
    )


async def _opcounters(client: AsyncMongoClient[dict[str, Any]]) -> dict[str, int]:
    status = await client.admin.command("serverStatus")
    return {k: int(v) for k, v in status.get("opcounters", {}).items()}


async def store_bound(mongo_url: str, n: int = 300, concurrency: int = 8) -> dict[str, Any]:
    """Route and store `n` new-conversation messages, `concurrency` at a time."""
    settings = CoreSettings(mongodb_url=mongo_url, mongodb_db="bench_store_bound")
    store = Store(settings)
    await store.wait_ready()
    await store.client.drop_database(settings.mongodb_db)
    await store.ensure_indexes({**ROUTER_INDEXES, **NOTIFIER_INDEXES})
    router = Router(SimpleNamespace(store=store), load_rules(DEFAULT_RULES))  # type: ignore[arg-type]
    queue = Queue(store)
    slots = asyncio.Semaphore(concurrency)

    async def one(tag: str) -> None:
        async with slots:
            routed = await router.route(_message(tag))
            assert routed is not None
            events, _ = await queue.apply_routed(routed)
            await queue.mark_published([e.id for e in events])

    try:
        await one("warmup")
        before = await _opcounters(store.client)
        start = time.perf_counter()
        await asyncio.gather(*(one(f"s{i}") for i in range(n)))
        elapsed = time.perf_counter() - start
        after = await _opcounters(store.client)
        ops = {k: (after.get(k, 0) - before.get(k, 0)) / n for k in after}
        ops.pop("command", None)  # serverStatus itself and the driver's own commands
        return {
            "msgs_per_s": n / elapsed,
            "ops_per_msg": sum(ops.values()),
            "ops_detail": {k: v for k, v in ops.items() if v},
            "ops_per_s": sum(ops.values()) * n / elapsed,
        }
    finally:
        await store.client.drop_database(settings.mongodb_db)
        await store.close()
