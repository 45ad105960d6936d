"""Publishing saved events: outbox → NATS `inbox.events.<type>` (stream EVENTS)."""

from __future__ import annotations

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
                await self.queue.mark_published(done)

    async def relay_once(self, older_than_s: float) -> int:
        pending = await self.queue.unpublished(utcnow() - timedelta(seconds=older_than_s))
        if pending:
            log.info("relaying outbox events", count=len(pending))
            await self.publish(pending)
        return len(pending)
