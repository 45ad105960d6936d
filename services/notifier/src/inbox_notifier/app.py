"""Notifier service: ROUTED → the unified queue in MongoDB → EVENTS (NATS and SSE),
and the agent API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp import web
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.errors import BusUnavailable, PermanentError
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import SCHEMA_VERSION, DeliveryReport, Event, RoutedMessage, utcnow
from inbox_notifier.api import SETTINGS, SHUTDOWN, add_routes
from inbox_notifier.auth import auth_middleware, load_tokens
from inbox_notifier.queue import INDEXES, Queue
from inbox_notifier.settings import NotifierSettings

log = get_logger(__name__)


class Notifier:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue = Queue(runtime.store)

    async def handle(self, msg: Msg) -> None:
        if msg.subject.startswith("inbox.delivery."):
            events = await self.queue.apply_delivery(DeliveryReport.from_json(msg.data))
        else:
            routed = RoutedMessage.from_json(msg.data)
            if routed.schema_version > SCHEMA_VERSION:
                raise PermanentError(f"schema_version {routed.schema_version} is newer than ours")
            events = await self.queue.apply_routed(routed)
        await self.publish(events)

    async def publish(self, events: list[Event]) -> None:
        """Publish saved events; what fails here stays in the outbox for the relay."""
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

    async def relay(self, every: float) -> None:
        """Publish outbox events a crashed or disconnected moment left behind."""
        while True:
            await asyncio.sleep(every)
            try:
                pending = await self.queue.unpublished(utcnow() - timedelta(seconds=every))
                if pending:
                    log.info("relaying outbox events", count=len(pending))
                    await self.publish(pending)
            except Exception as err:
                log.warning("outbox relay failed", error=repr(err))


def create_app(settings: NotifierSettings | None = None) -> web.Application:
    settings = settings or NotifierSettings()
    runtime = Runtime("notifier", settings, indexes=dict(INDEXES))
    notifier = Notifier(runtime)
    app = create_base_app(runtime)
    app.middlewares.append(auth_middleware(load_tokens(settings.data_dir)))
    app[SETTINGS] = settings
    app[SHUTDOWN] = asyncio.Event()
    add_routes(app)

    async def consume(app: web.Application) -> Any:
        await runtime.bus.consumer(
            stream=subjects.STREAM_ROUTED, durable="notifier", handler=notifier.handle
        ).start()
        runtime.spawn(notifier.relay(settings.outbox_relay_s), "outbox-relay")
        yield

    async def stop_streams(app: web.Application) -> None:
        app[SHUTDOWN].set()

    app.cleanup_ctx.append(consume)
    app.on_shutdown.append(stop_streams)
    return app
