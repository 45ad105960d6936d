"""`inbox-reports rebuild`: recompute the report counters from the stored conversations and
messages (after a restore, an import, or to check the live counters).

The counters are a sum of `contribution(conversation)`, so the rebuild gives exactly the
numbers the live updates produced. Run it with the notifier stopped: writes made while it
runs may be counted twice or not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from pymongo import InsertOne
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, MESSAGES, Store
from inbox_notifier.report_counters import REPORT_COUNTERS, accumulate

FIELDS = {
    "created_at": 1,
    "category": 1,
    "channel": 1,
    "account": 1,
    "team": 1,
    "product": 1,
    "status": 1,
    "resolved_at": 1,
    "resolved_by": 1,
    "tags": 1,
    "sla": 1,
}


async def _with_responder(db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """Conversations; who answered first comes from the messages when the conversation
    predates `sla.first_response_by`."""
    async for conv in db[CONVERSATIONS].find({}, FIELDS):
        sla = conv.get("sla") or {}
        if sla.get("first_response_at") and not sla.get("first_response_by"):
            first = await db[MESSAGES].find_one(
                {"conversation_id": conv["_id"], "direction": "out", "kind": "message"},
                sort=[("created_at", 1)],
            )
            if first and first.get("author"):
                conv["sla"] = {**sla, "first_response_by": first["author"]}
        yield conv


async def rebuild_counters(db: AsyncDatabase[dict[str, Any]]) -> int:
    """Replace every counter document; returns how many were written."""
    conversations = [c async for c in _with_responder(db)]
    docs = accumulate(conversations)
    await db[REPORT_COUNTERS].delete_many({})
    ops = [InsertOne(doc) for doc in docs.values()]
    for i in range(0, len(ops), 1000):
        await db[REPORT_COUNTERS].bulk_write(ops[i : i + 1000], ordered=False)
    return len(ops)


async def _rebuild() -> int:
    store = Store(CoreSettings())
    try:
        await store.wait_ready(timeout=10)
        written = await rebuild_counters(store.db)
    finally:
        await store.close()
    print(f"report counters rebuilt: {written} documents")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inbox-reports", description=__doc__)
    parser.add_argument("command", choices=["rebuild"])
    parser.parse_args(argv)
    return asyncio.run(_rebuild())


if __name__ == "__main__":
    sys.exit(main())
