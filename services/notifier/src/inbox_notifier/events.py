"""Publishing saved events: outbox → NATS `inbox.events.<type>` (stream EVENTS)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from inbox_core import subjects
from inbox_core.bus import Outgoing
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
        self._failed: list[str] = []
        self._marking = asyncio.Lock()

    async def publish(self, events: list[Event], *, mark: bool = True) -> dict[str, BaseException]:
        """Publish saved events in order, their PubAcks in flight together, and mark what
        went out; what fails stays in the outbox for the relay (which publishes it again,
        deduplicated by id). `mark=False`: events saved with `source_redelivers`, which
        the caller marks (`Queue.record_published`) or fails its message for.
        Returns the failed ones' errors by event id."""
        if not events:
            return {}
        items = [Outgoing.of(subjects.event(e.type), e, msg_id=e.id) for e in events]
        acks = await self.runtime.bus.publish_many(items)
        done = [
            e.id for e, ack in zip(events, acks, strict=True) if not isinstance(ack, BaseException)
        ]
        if len(done) < len(events):
            error = next(a for a in acks if isinstance(a, BaseException))
            log.warning(
                "events left in the outbox", error=str(error), pending=len(events) - len(done)
            )
        if done and mark:
            sent = set(done)
            failed = [e.id for e in events if e.id not in sent]
            await self._mark_published(done, failed)
        return {
            e.id: ack for e, ack in zip(events, acks, strict=True) if isinstance(ack, BaseException)
        }

    async def _mark_published(self, event_ids: list[str], failed: list[str]) -> None:
        """Group commit: while one update runs, the ids of other handlers gather and the
        next holder of the lock marks them all in one update. Returns once `event_ids` are
        marked (or raises, and the relay publishes them again, deduplicated by the bus).
        An outbox document holding a `failed` event stays unpublished."""
        self._to_mark.extend(event_ids)
        self._failed.extend(failed)
        async with self._marking:
            if not self._to_mark:
                return  # the previous holder marked ours too
            batch, self._to_mark = self._to_mark, []
            not_sent, self._failed = self._failed, []
            try:
                await self.queue.mark_published(batch, not_sent)
            except BaseException:
                self._to_mark[:0] = batch
                self._failed[:0] = not_sent
                raise

    async def relay_once(self, older_than_s: float) -> int:
        pending = await self.queue.unpublished(utcnow() - timedelta(seconds=older_than_s))
        if pending:
            log.info("relaying outbox events", count=len(pending))
            await self.publish(pending)
        return len(pending)
