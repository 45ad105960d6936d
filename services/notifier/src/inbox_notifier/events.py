"""Publishing saved events: outbox → NATS `inbox.events.<type>` (stream EVENTS)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from inbox_core import subjects
from inbox_core.errors import BusUnavailable
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime
from inbox_core.schema import Event, utcnow
from inbox_notifier.queue import Queue

log = get_logger(__name__)


class EventPublisher:
    def __init__(self, runtime: Runtime, queue: Queue) -> None:
        self.runtime = runtime
        self.queue = queue
        self._to_mark: list[str] = []
        self._marking = asyncio.Lock()

    async def publish(self, events: list[Event]) -> None:
        """Publish saved events in order; what fails stays in the outbox for the relay."""
        done: list[str] = []
        try:
            for event in events:
                await self.runtime.bus.publish_model(
                    subjects.event(event.type), event, msg_id=event.id
                )
                done.append(event.id)
        except BusUnavailable as err:
            log.warning(
                "events left in the outbox", error=str(err), pending=len(events) - len(done)
            )
        finally:
            if done:
                await self._mark_published(done)

    async def _mark_published(self, event_ids: list[str]) -> None:
        """Group commit: while one update runs, the ids of other handlers gather and the
        next holder of the lock marks them all in one update. Returns once `event_ids` are
        marked (or raises, and the relay publishes them again, deduplicated by the bus)."""
        self._to_mark.extend(event_ids)
        async with self._marking:
            if not self._to_mark:
                return  # the previous holder marked ours too
            batch, self._to_mark = self._to_mark, []
            try:
                await self.queue.mark_published(batch)
            except BaseException:
                self._to_mark[:0] = batch
                raise

    async def relay_once(self, older_than_s: float) -> int:
        pending = await self.queue.unpublished(utcnow() - timedelta(seconds=older_than_s))
        if pending:
            log.info("relaying outbox events", count=len(pending))
            await self.publish(pending)
        return len(pending)
