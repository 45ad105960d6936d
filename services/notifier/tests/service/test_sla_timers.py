"""The SLA timers share one field and one index: the warning, then the breach, each once per
deadline; a conversation warned under the earlier scheme still breaches after an upgrade
(real bus and Mongo-wire store)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, IndexModel

from inbox_core.schema import SlaState, utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, Store
from inbox_notifier.queue import Queue
from inbox_notifier.timers import SINCE_EVER, backfill_breach_timers

from .conftest import NotifierHarness


@pytest.fixture
async def db(notifier: NotifierHarness, core_env: dict[str, str]) -> Any:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        core_env["MONGODB_URL"], tz_aware=True
    )
    try:
        yield client[core_env["INBOX_MONGODB_DB"]]
    finally:
        await client.close()


async def test_the_timer_moves_from_the_warning_to_the_breach_and_then_clears(
    notifier: NotifierHarness, db: Any
) -> None:
    now = utcnow()
    routed = notifier.routed(1, "t1")
    routed.decision.sla = SlaState(
        first_response_minutes=1, first_response_due=now + timedelta(seconds=10)
    )
    routed.message.received_at = now
    await notifier.publish(routed)
    [warning] = await notifier.events(1, timeout=20, types="sla.warning")  # at 8 s of 10
    assert warning["data"]["conversation_id"] == "t1"
    doc = await asyncio.wait_for(db[CONVERSATIONS].find_one({"_id": "t1"}), 5)
    assert doc["sla_warn_at"] == doc["sla_deadline"]  # the next timer: the breach
    await notifier.events(2, timeout=20, types="sla.warning,sla.breached")
    doc = await asyncio.wait_for(db[CONVERSATIONS].find_one({"_id": "t1"}), 5)
    assert doc["sla_warn_at"] is None and doc["sla"]["breached"] is True
    # The timers' query reads their one index.
    query = {"status": "open", "sla_warn_at": {"$gte": SINCE_EVER, "$lte": utcnow()}}
    plan = await asyncio.wait_for(db[CONVERSATIONS].find(query).explain(), 10)
    winning = str(plan["queryPlanner"]["winningPlan"])
    assert "status_1_sla_warn_at_1" in winning and "COLLSCAN" not in winning


async def test_a_conversation_warned_before_the_upgrade_still_breaches(
    notifier: NotifierHarness, db: Any, core_env: dict[str, str]
) -> None:
    """Before, a fired warning cleared `sla_warn_at` and the breach had its own index: at
    start, while that index is there, such a conversation's timer moves to its deadline."""
    coll = db[CONVERSATIONS]
    deadline = (utcnow() + timedelta(seconds=1)).replace(microsecond=0)
    old = {
        "_id": "old-1",
        "number": 7001,
        "status": "open",
        "team": "shipping",
        "sla": {"first_response_due": deadline, "breached": False},
        "sla_deadline": deadline,
        "sort_due": deadline,
        "sla_warn_at": None,  # warned, under the earlier scheme
        "sla_warned_for": deadline,
        "version": 2,
    }
    answered = {**old, "_id": "old-2", "number": 7002, "sla": {"breached": True}}
    async with asyncio.timeout(30):
        await coll.create_indexes(
            [IndexModel([("status", 1), ("sla.breached", 1), ("sla_deadline", 1)])]
        )
        await coll.insert_many([old, answered])
        store = Store(
            CoreSettings(
                mongodb_url=core_env["MONGODB_URL"], mongodb_db=core_env["INBOX_MONGODB_DB"]
            )
        )
        try:
            moved = await backfill_breach_timers(Queue(store))
            again = await backfill_breach_timers(Queue(store))
        finally:
            await store.close()
    assert (moved, again) == (1, 0)  # the breached one has nothing left to fire; idempotent
    events = await notifier.events(1, timeout=15, types="sla.breached")
    assert events[0]["data"]["conversation_id"] == "old-1"
    doc = await asyncio.wait_for(coll.find_one({"_id": "old-1"}), 5)
    assert doc["sla"]["breached"] is True and doc["sla_warn_at"] is None
    with pytest.raises(TimeoutError):  # no warning: it was warned before
        await notifier.events(2, timeout=1.5, types="sla.warning,sla.breached")
