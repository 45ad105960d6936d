"""The MongoDB store through PyMongo's async API (`AsyncMongoClient`; Motor is deprecated).

Works the same against the embedded Mongo-wire server and a real `mongod`.
Each service declares the indexes it relies on; they are created at start (idempotent).
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC
from typing import Any, Final

from pymongo import AsyncMongoClient, IndexModel, ReturnDocument, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from inbox_core import metrics
from inbox_core.batched import Coalescer
from inbox_core.errors import TransientError
from inbox_core.logging import get_logger
from inbox_core.masking import mask_url_credentials
from inbox_core.settings import CoreSettings

log = get_logger(__name__)

# Collections shared between services: the owner writes, others read where
# docs/service-pattern.md lists them (tests/test_collection_owners.py checks it).
CONVERSATIONS: Final = "conversations"  # notifier writes; router reads status
MESSAGES: Final = "messages"  # notifier
THREADS: Final = "threads"  # router: thread key → conversation
CUSTOMERS: Final = "customers"  # router
CUSTOMER_KEYS: Final = "customer_keys"  # router: customer key → customer id; merges repoint
CUSTOMER_MERGES: Final = "customer_merges"  # router: merged customer id → the one it joined
OUTBOX: Final = "outbox"  # notifier: events not yet on the bus
CURSORS: Final = "cursors"  # pollers: per account and board
COUNTERS: Final = "counters"  # monotonic numbers (conversation number)
RAW: Final = "raw_messages"  # connectors: raw payloads kept as received
SETTINGS_DOC: Final = "settings"
ROUTING_STATE: Final = "routing_state"  # router: category table, current model version
ROUTING_CORRECTIONS: Final = "routing_corrections"  # notifier: agents' team/category changes


# Commands that touch data; the driver's own (hello, ping, endSessions…) are not counted.
_DATA_COMMANDS: Final = frozenset(
    {"find", "getMore", "insert", "update", "delete", "findAndModify", "count", "aggregate"}
)


class _RoundTrips(monitoring.CommandListener):
    """Counts the store's data commands by collection: the bench's round trips per message."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in _DATA_COMMANDS:
            collection = event.command.get(name) if name != "getMore" else "cursor"
            metrics.STORE_COMMANDS.labels(str(collection), name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Store:
    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        options: dict[str, Any] = {}
        if "maxpoolsize" not in settings.mongodb_url.lower():  # the URL's own setting wins
            # Few connections per service: the embedded store serves each on a thread of its
            # own, and a hundred threads contending for it did a third less work than eight.
            options["maxPoolSize"] = settings.mongodb_pool
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url,
            tz_aware=True,
            tzinfo=UTC,
            serverSelectionTimeoutMS=5000,
            connectTimeoutMS=3000,
            appname="omnichannel-inbox",
            event_listeners=[_RoundTrips()],
            # Heartbeats by polling: the streaming protocol keeps a hello waiting on the
            # server for every client, which the embedded store polls (a tenth of its time
            # in the bench's profile).
            serverMonitoringMode="poll",
            **options,
        )
        self.db: AsyncDatabase[dict[str, Any]] = self.client.get_database(settings.mongodb_db)
        self._numbers: dict[str, Coalescer[None, int]] = {}

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            await asyncio.wait_for(self.client.admin.command("ping"), timeout=timeout)
        except (TimeoutError, PyMongoError, OSError):
            return False
        return True

    async def wait_ready(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await self.ping():
            if loop.time() > deadline:
                where = mask_url_credentials(self.settings.mongodb_url)
                raise TransientError(f"store not reachable at {where}")
            await asyncio.sleep(0.3)

    async def ensure_indexes(self, indexes: dict[str, list[IndexModel]]) -> None:
        for collection, models in indexes.items():
            if models:
                await self.db[collection].create_indexes(models)

    async def next_number(self, name: str) -> int:
        """A monotonic, unique number (gaps are possible when a racing insert loses).

        Callers asking at the same moment share one increment: a batch's new conversations
        take their numbers, in the order they asked, from one round trip."""
        numbers = self._numbers.get(name)
        if numbers is None:
            numbers = self._numbers[name] = Coalescer(functools.partial(self._reserve, name))
        return await numbers(None)

    async def _reserve(self, name: str, asks: list[None]) -> list[int]:
        for _ in range(5):
            try:
                doc = await self.db[COUNTERS].find_one_and_update(
                    {"_id": name},
                    {"$inc": {"seq": len(asks)}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                doc = None  # the first increments of two processes (replicas) raced
            if doc is not None:
                top = int(doc["seq"])
                return list(range(top - len(asks) + 1, top + 1))
        raise TransientError(f"counter {name} could not be incremented")

    async def close(self) -> None:
        await self.client.close()
