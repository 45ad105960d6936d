"""Notifier service: ROUTED → the unified queue in MongoDB → EVENTS (NATS and SSE),
the agent API, SLA timers and the outbox relay."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from nats.aio.msg import Msg
from pymongo.errors import PyMongoError

from inbox_core import subjects
from inbox_core.bus import Outgoing, message_span, run_rounds
from inbox_core.errors import PermanentError
from inbox_core.faq import FaqCatalog
from inbox_core.logging import get_logger
from inbox_core.partitions import partitioned_consumer
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import SCHEMA_VERSION, DeliveryReport, Event, RoutedMessage, utcnow
from inbox_core.store import CONVERSATIONS, MESSAGES, OUTBOX
from inbox_notifier import audit
from inbox_notifier.api import DESK, TOKENS, install_api
from inbox_notifier.api_faq import FAQ_CATALOG
from inbox_notifier.auth import auth_middleware, load_identities
from inbox_notifier.bot_answers import apply_bot_answer
from inbox_notifier.console import install_console
from inbox_notifier.desk import Desk
from inbox_notifier.events import EventPublisher
from inbox_notifier.file_links import FILE_LINKS, install_file_links
from inbox_notifier.queue import (
    INDEXES,
    OBSOLETE_MESSAGE_INDEXES,
    OBSOLETE_OUTBOX_INDEXES,
    Change,
    Queue,
    together,
)
from inbox_notifier.queue_page import START_VIEWS, drop_obsolete_indexes, warm_heads
from inbox_notifier.routing import error_middleware, json_response
from inbox_notifier.settings import NotifierSettings
from inbox_notifier.snooze import SNOOZE_TICK_MIN_S, reopen_snoozed
from inbox_notifier.spikes import SpikeRule, SpikeWatch, backfill_arrivals
from inbox_notifier.stream import SETTINGS, SHUTDOWN
from inbox_notifier.timers import backfill_breach_timers, fire_due

log = get_logger(__name__)


class Notifier:
    def __init__(self, runtime: Runtime, settings: NotifierSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.queue = Queue(runtime.store, warn_ratio=settings.sla_warn_ratio)
        self.publisher = EventPublisher(runtime, self.queue)
        self.faq = FaqCatalog(lambda: runtime.store.db)

    async def handle_batch(self, msgs: list[Msg]) -> list[BaseException | None]:
        """Apply a fetched batch: round by round (a conversation's messages in stream order),
        the messages of a round concurrently with their store calls gathered; then publish
        the batch's replies and events with the PubAcks in flight together. A message is
        done once its writes, its replies' PubAcks and its events' PubAcks (and their
        published marks) are: one whose event was not taken fails and is redelivered, and
        its redelivery publishes what is still unpublished (`Queue.save_events`)."""
        outcome: dict[int, BaseException | None] = {}
        done: list[tuple[int, list[list[Event]], list[Outgoing]]] = []
        # The report-counter changes of the conversation writes made, failed messages' too
        # (their redelivery finds the write made and counts nothing): counted in one round
        # with the published marks, not one more round per message before its events.
        counts: list[Change] = []
        apply = functools.partial(self._apply_one, counts=counts)
        for i, result in enumerate(await run_rounds(msgs, apply)):
            if isinstance(result, BaseException):
                outcome[i] = result
            else:
                outcome[i] = None
                done.append((i, *result))
        done.sort(key=lambda d: d[0])  # stream order
        replies = [(i, reply) for i, _, out in done for reply in out]
        events = [event for _, docs, _ in done for evs in docs for event in evs]
        acks, unpublished = await asyncio.gather(
            self.runtime.bus.publish_many([r for _, r in replies]),
            self.publisher.publish(events, mark=False),
        )
        for (i, _), ack in zip(replies, acks, strict=True):
            if isinstance(ack, BaseException):
                outcome[i] = ack  # redelivered: stored once, the reply published again
        published: list[list[Event]] = []
        for i, docs, _ in done:
            # An event not taken fails its message as a reply does: redelivered (an outage:
            # for as long as it takes), or dead-lettered when the bus can never take it.
            refused = [unpublished[e.id] for evs in docs for e in evs if e.id in unpublished]
            permanent = [err for err in refused if isinstance(err, PermanentError)]
            if refused and outcome[i] is None:
                outcome[i] = (permanent or refused)[0]
            published += [evs for evs in docs if not any(e.id in unpublished for e in evs)]
        # Before the acks: a message acked is one whose events are marked (and counted).
        await together(self.queue.record_published(published), self.queue.count_changes(counts))
        return [outcome[i] for i in range(len(msgs))]

    async def handle(self, msg: Msg) -> None:
        """One message on its own (the batch path with a batch of one)."""
        (outcome,) = await self.handle_batch([msg])
        if outcome is not None:
            raise outcome

    async def _apply_one(
        self, msg: Msg, counts: list[Change]
    ) -> tuple[list[list[Event]], list[Outgoing]]:
        """One message's writes; its events (by outbox document, as `save_events` gave
        them) and the replies to hand to the connector. The report-counter changes of its
        conversation writes are added to `counts`."""
        with message_span("notifier", msg):
            if msg.subject.startswith("inbox.delivery."):
                report = DeliveryReport.from_json(msg.data)
                return [await self.queue.apply_delivery(report)], []
            routed = RoutedMessage.from_json(msg.data)
            if routed.schema_version > SCHEMA_VERSION:
                raise PermanentError(f"schema_version {routed.schema_version} is newer than ours")
            events, replies = await self.queue.apply_routed(routed, counts)
            bot_events, bot_replies = await apply_bot_answer(self.queue, routed, counts)  # FAQ
            out = [
                Outgoing.of(
                    subjects.outbound(reply.channel, reply.account),
                    reply,
                    msg_id=f"reply:{reply.id}",
                )
                for reply in [*replies, *bot_replies]  # automatic answers, to the connector
            ]
            return [events, bot_events], out

    async def every(self, seconds: float, job: Any, name: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as err:
                log.warning(f"{name} failed", error=repr(err))


def create_app(settings: NotifierSettings | None = None) -> web.Application:
    settings = settings or NotifierSettings()
    runtime = Runtime("notifier", settings, indexes={**INDEXES, **audit.INDEXES})
    notifier = Notifier(runtime, settings)
    app = create_base_app(runtime)
    app.middlewares.append(error_middleware)
    identities = load_identities(settings.data_dir)
    app.middlewares.append(auth_middleware(identities, settings.auth_failures_per_minute))
    app.middlewares.append(audit.audit_middleware)  # after auth: it knows the agent
    app[TOKENS] = {token: identity.name for token, identity in identities.items()}
    app[SETTINGS] = settings
    app[SHUTDOWN] = asyncio.Event()
    app[DESK] = Desk(notifier.queue, notifier.publisher)
    app[FAQ_CATALOG] = notifier.faq
    spec = install_api(app, runtime)

    async def openapi_json(_: web.Request) -> web.Response:
        return json_response(spec)

    app.router.add_get("/openapi.json", openapi_json)
    install_file_links(app, settings.public_url, settings.data_dir)
    app[DESK].file_links = app.get(FILE_LINKS)
    install_console(app)

    async def consume(app: web.Application) -> AsyncIterator[None]:
        await backfill_breach_timers(notifier.queue)  # before its index goes
        await drop_obsolete_indexes(runtime.store.db[CONVERSATIONS])
        await drop_obsolete_indexes(runtime.store.db[MESSAGES], OBSOLETE_MESSAGE_INDEXES)
        await drop_obsolete_indexes(runtime.store.db[OUTBOX], OBSOLETE_OUTBOX_INDEXES)
        await backfill_arrivals(runtime.store.db, utcnow())  # once, for a store from before
        # Before the first message: the first agent's first page is cheap (queue_page).
        try:
            await warm_heads(runtime.store.db[CONVERSATIONS], START_VIEWS)
        except PyMongoError as err:  # only a cost: the first page finds the head itself
            log.warning("queue heads not read at start", error=repr(err))
        # One conversation is applied by one replica at a time (inbox_core.partitions).
        routed = partitioned_consumer(
            runtime.bus,
            stream=subjects.STREAM_ROUTED,
            durable="notifier",
            batch_handler=notifier.handle_batch,
        )
        await routed.start()
        runtime.spawn(notifier.faq.watch(), "faq-entries")
        runtime.spawn(
            notifier.every(
                settings.outbox_relay_s,
                lambda: notifier.publisher.relay_once(settings.outbox_relay_s),
                "outbox relay",
            ),
            "outbox-relay",
        )
        runtime.spawn(
            notifier.every(
                settings.sla_tick_s,
                lambda: fire_due(notifier.queue, notifier.publisher),
                "sla timers",
            ),
            "sla-timers",
        )
        runtime.spawn(
            notifier.every(
                # A snooze ends on the minute an agent chose: no need to ask more than each s.
                max(settings.sla_tick_s, SNOOZE_TICK_MIN_S),
                lambda: reopen_snoozed(notifier.queue, notifier.publisher),
                "snooze timers",
            ),
            "snooze-timers",
        )
        rule = SpikeRule(settings.spike_window_s, settings.spike_factor, settings.spike_min)
        spikes = SpikeWatch(runtime, rule)
        runtime.spawn(notifier.every(settings.spike_tick_s, spikes.tick, "spikes"), "spikes")
        yield
        await routed.stop()

    async def stop_streams(app: web.Application) -> None:
        app[SHUTDOWN].set()

    app.cleanup_ctx.append(consume)
    app.on_shutdown.append(stop_streams)
    return app
