"""The store's own bound: the router's and the notifier's real store work for one message
(customer, conversation resolution, message, conversation, outbox), run in-process against
the same Mongo-wire server as the pipeline, with no bus in between.

Messages per second here are the most the pipeline can reach on this store whatever the bus
does; the round trips per message (the store commands the services send, by collection) say
why.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from inbox_core import metrics
from inbox_core.schema import Customer, Event, InboundMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import Store
from inbox_notifier.queue import INDEXES as NOTIFIER_INDEXES
from inbox_notifier.queue import Queue
from inbox_router.app import Router
from inbox_router.conversations import INDEXES as ROUTER_INDEXES
from inbox_router.rules import load_rules
from inbox_router.settings import DEFAULT_RULES

PAGE = "100000000000009"


def new_customer_message(tag: str) -> InboundMessage:
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


def _round_trips() -> Counter[str]:
    """Store commands this process has sent so far, by collection (Store counts them)."""
    spent: Counter[str] = Counter()
    for sample in metrics.STORE_COMMANDS.collect()[0].samples:
        if sample.name.endswith("_total"):
            spent[sample.labels["collection"]] += int(sample.value)
    return spent


async def store_bound(mongo_url: str, n: int = 300, batch: int = 8) -> dict[str, Any]:
    """Route and store `n` new-conversation messages in batches of `batch`, as the consumers
    do: a batch's messages concurrently (their store calls gathered), batch after batch."""
    settings = CoreSettings(mongodb_url=mongo_url, mongodb_db="bench_store_bound")
    store = Store(settings)
    await store.wait_ready()
    await store.client.drop_database(settings.mongodb_db)
    await store.ensure_indexes({**ROUTER_INDEXES, **NOTIFIER_INDEXES})
    router = Router(SimpleNamespace(store=store), load_rules(DEFAULT_RULES))  # type: ignore[arg-type]
    queue = Queue(store)

    async def one(tag: str) -> list[Event]:
        routed = await router.route(new_customer_message(tag))
        assert routed is not None
        events, _ = await queue.apply_routed(routed)
        return events

    async def batch_of(tags: list[str]) -> None:
        await queue.record_published(await asyncio.gather(*(one(t) for t in tags)))

    try:
        await batch_of(["warmup"])
        before = _round_trips()
        start = time.perf_counter()
        for first in range(0, n, batch):
            await batch_of([f"s{i}" for i in range(first, min(n, first + batch))])
        elapsed = time.perf_counter() - start
        spent = _round_trips() - before
        return {
            "msgs_per_s": n / elapsed,
            "trips_per_msg": sum(spent.values()) / n,
            "trips_detail": {k: v / n for k, v in spent.most_common()},
        }
    finally:
        await store.client.drop_database(settings.mongodb_db)
        await store.close()
