"""Router service: INBOUND → customer, conversation, rules, SLA → ROUTED."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web
from nats.aio.msg import Msg
from pymongo.errors import PyMongoError

from inbox_core import subjects
from inbox_core.batched import BatchedDatabase
from inbox_core.bus import ORDER_KEY_HEADER, Outgoing, message_span, order_key, run_rounds
from inbox_core.calendar import BusinessCalendar
from inbox_core.errors import InboxError, PermanentError
from inbox_core.faq import FaqCatalog
from inbox_core.logging import get_logger
from inbox_core.partitions import partitioned_consumer
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import SCHEMA_VERSION, InboundMessage, RoutedMessage
from inbox_router.bot import decide_bot_answer, with_bot_answer
from inbox_router.category_table import publish_category_table
from inbox_router.commands import command_handler, customer_merge_handler
from inbox_router.conversations import INDEXES, ConversationResolver
from inbox_router.customers import (
    CustomerRecord,
    customer_facts,
    find_customer,
    link_customer,
)
from inbox_router.facts import DEFAULT_CALENDAR, ConversationFacts, MatchFacts
from inbox_router.learning import ModelHolder, retrain
from inbox_router.legacy_customers import prepare_customers
from inbox_router.reload import RuleSource
from inbox_router.rules import RuleSet
from inbox_router.sent_replies import MAIL, delivery_handler
from inbox_router.settings import RouterSettings

log = get_logger(__name__)

IGNORED = "ignored_messages"  # router: automatic mail without a conversation, kept aside


def related_keys(msg: Msg) -> list[str]:
    """What a message's routing depends on besides itself: its thread keys, the threads it
    references (a mail's reply names the first mail) and its customer (a new mail joins the
    same customer's conversation by subject). Messages of one batch that share any of these
    are routed one after another, so the reply sees the conversation its first mail made."""
    keys = [k] if (k := order_key(msg)) is not None else []
    try:
        data = orjson.loads(msg.data)
        keys += [str(x) for x in data.get("thread_keys") or []]
        keys += [str(x) for x in data.get("references") or []]
        customer = (data.get("customer") or {}).get("id")
        if customer:
            keys.append(f"customer:{data.get('channel')}:{data.get('account')}:{customer}")
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        pass  # refused by the handler itself; ordered by its header alone
    return keys


async def _settle(task: asyncio.Future[Any], *, cancel: bool) -> None:
    """A helper task whose outcome no longer matters (its message failed): let it end (its
    writes are idempotent and the message comes again), or cancel it, and mark its error as
    seen, so the message's own error is the one reported."""
    try:
        if not cancel:
            await asyncio.wait([task])
    finally:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()


class Router:
    def __init__(
        self,
        runtime: Runtime,
        rules: RuleSource | RuleSet,
        settings: RouterSettings | None = None,
        calendar: BusinessCalendar | None = None,
    ) -> None:
        settings = settings or RouterSettings()
        self.runtime = runtime
        self.rules = rules if isinstance(rules, RuleSource) else RuleSource.fixed(rules)
        self.model = ModelHolder()
        self.model_enabled = settings.model_enabled
        self.calendar = calendar or DEFAULT_CALENDAR
        # The messages of a batch are routed concurrently; their store calls at the same
        # step go out together (one $in query, one bulk write per collection). A message's
        # customer and its conversation are two chains of calls run side by side (route):
        # each has its own batched database, so a chain's queue waits (LINGER_S) for the
        # round trips of the batch's other messages at its own step, not for the other chain.
        self.db = BatchedDatabase(runtime.store.db)  # customers and their keys
        self.threads_db = BatchedDatabase(runtime.store.db)  # threads and conversations
        self.resolver = ConversationResolver(
            self.threads_db,
            reopen_window=settings.reopen_window,
            subject_channels=settings.subject_channels,
        )
        self.faq = FaqCatalog(lambda: runtime.store.db)  # the FAQ bot's entries

    async def handle_batch(self, msgs: list[Msg]) -> list[BaseException | None]:
        """Route a fetched batch: round by round (a thread's messages in stream order), the
        messages of a round concurrently; then publish every routed message with the PubAcks
        in flight together. Returns each message's outcome for the consumer to settle."""
        outcome: dict[int, BaseException | None] = {}
        follow: list[tuple[int, Outgoing]] = []
        for i, result in enumerate(await run_rounds(msgs, self._route_one, related_keys)):
            outcome[i] = result if isinstance(result, BaseException) else None
            if isinstance(result, Outgoing):
                follow.append((i, result))
        follow.sort(key=lambda f: f[0])  # stream order, so a thread's routed stay in order
        acks = await self.runtime.bus.publish_many([o for _, o in follow])
        for (i, _), ack in zip(follow, acks, strict=True):
            if isinstance(ack, BaseException):
                outcome[i] = ack  # its writes are idempotent: the redelivery publishes again
        return [outcome[i] for i in range(len(msgs))]

    async def keep_state(self, every_s: float) -> None:
        """Publish the category table for the notifier now and whenever the rules change;
        train the model again when another process retrained it (a new version)."""
        published: RuleSet | None = None
        while True:
            rules = self.rules.current
            try:
                if rules is not published:
                    await publish_category_table(self.runtime.store.db, rules)
                    published = rules
                if self.model_enabled:
                    await self.model.load(self.runtime.store.db)
            except (InboxError, PyMongoError) as err:
                log.warning("routing state not refreshed", error=str(err))
            await asyncio.sleep(every_s)

    async def answer_retrain(self, msg: Msg) -> None:
        """Request/reply on ROUTER_RETRAIN: retrain, answer with the result as JSON."""
        try:
            if not self.model_enabled:
                raise PermanentError("the routing model is turned off (INBOX_ROUTER_MODEL=0)")
            result = (
                await retrain(self.runtime.store.db, self.rules.current, self.model)
            ).as_dict()
        except (InboxError, PyMongoError) as err:
            result = {"accepted": False, "message": f"retrain failed: {err}"}
        await msg.respond(orjson.dumps(result))

    async def handle(self, msg: Msg) -> None:
        """One message on its own (the batch path with a batch of one)."""
        (outcome,) = await self.handle_batch([msg])
        if outcome is not None:
            raise outcome

    async def _route_one(self, msg: Msg) -> Outgoing | None:
        with message_span("router", msg):
            message = InboundMessage.from_json(msg.data)
            if message.schema_version > SCHEMA_VERSION:
                raise PermanentError(f"schema_version {message.schema_version} is newer than ours")
            routed = await self.route(message)
            if routed is None:
                return None
            return Outgoing.of(
                subjects.routed(message.channel, message.account),
                routed,
                msg_id=f"routed:{message.dedup_id}",
                headers={ORDER_KEY_HEADER: routed.conversation_id},
            )

    async def route(self, message: InboundMessage) -> RoutedMessage | None:
        rules = self.rules.current  # one rule set for the whole message, even across a reload
        # The customer is found or linked while the conversation is resolved: the two chains
        # of store calls (customer keys and customers; threads and conversations) go out in
        # the same rounds, and the resolver waits for the customer only where a rule needs it.
        customer = asyncio.ensure_future(self._customer(message))
        try:
            resolution = await self.resolver.resolve(message, customer)
        except BaseException as err:
            await _settle(customer, cancel=isinstance(err, asyncio.CancelledError))
            raise
        record = await customer
        if resolution is None:
            await self._keep_aside(message)
            return None
        facts = MatchFacts(
            customer=customer_facts(record, resolution.conversation_id),
            conversation=ConversationFacts(
                id=resolution.conversation_id,
                number=resolution.number,
                created=resolution.created,
            ),
            calendar=self.calendar,
        )
        decision = rules.decide(message, facts, self.model.model)
        answer = decide_bot_answer(self.faq.snapshot, message, resolution)
        decision = with_bot_answer(decision, answer)
        decision.reasons.insert(0, f"conversation: {resolution.how}")
        return RoutedMessage(
            message=message,
            conversation_id=resolution.conversation_id,
            customer_id=record.id if record else None,
            conversation_created=resolution.created,
            reopen=resolution.reopen,
            linked_conversation_id=resolution.linked_conversation_id,
            decision=decision,
        )

    async def _customer(self, message: InboundMessage) -> CustomerRecord | None:
        flags = message.flags
        if flags.auto_reply or flags.bounce or flags.list_mail:
            # Rule 5: automatic mail creates no customer and no conversation.
            return await find_customer(self.db, message)
        return await link_customer(self.db, message)

    async def _keep_aside(self, message: InboundMessage) -> None:
        """Automatic mail without a known conversation is kept (never lost), not routed."""
        await self.db[IGNORED].update_one(
            {"_id": message.dedup_id},
            {
                "$setOnInsert": {
                    "message": message.model_dump(mode="json"),
                    "reason": "automatic mail without a known thread",
                }
            },
            upsert=True,
        )
        log.info("automatic message kept aside", channel=message.channel)


def create_app(settings: RouterSettings | None = None) -> web.Application:
    settings = settings or RouterSettings()
    indexes: dict[str, Any] = dict(INDEXES)
    runtime = Runtime("router", settings, indexes=indexes)
    source = RuleSource(settings.rules_path)  # RulesError here: a bad file refuses to start
    calendar = BusinessCalendar.from_env()  # CalendarError here: bad hours refuse to start
    router = Router(runtime, source, settings, calendar)
    runtime.extra_checks["rules"] = source.health

    async def faq_health() -> dict[str, Any]:
        return {"loaded": router.faq.loaded, "entries": len(router.faq.snapshot.entries)}

    runtime.extra_checks["faq"] = faq_health
    app = create_base_app(runtime)

    async def consume(app: web.Application) -> AsyncIterator[None]:
        source.install_sighup()
        if settings.model_enabled:
            await router.model.load(runtime.store.db)  # trained before the first message
            assert runtime.bus.nc is not None
            await runtime.bus.nc.subscribe(
                subjects.ROUTER_RETRAIN, queue="router", cb=router.answer_retrain
            )
        runtime.spawn(router.keep_state(max(settings.rules_poll_s, 1.0)), "routing-state")
        if settings.rules_poll_s > 0:
            runtime.spawn(source.watch(settings.rules_poll_s), "rules-watch")
        runtime.spawn(router.faq.watch(), "faq-entries")
        # Every customer findable by its keys before the first message is routed.
        await prepare_customers(runtime.store.db)
        # One thread is routed by one replica at a time (inbox_core.partitions).
        inbound = partitioned_consumer(
            runtime.bus,
            stream=subjects.STREAM_INBOUND,
            durable="router",
            batch_handler=router.handle_batch,
            keys_of=related_keys,  # a reply in the next batch waits for the mail it answers
        )
        await inbound.start()
        await runtime.bus.consumer(
            stream=subjects.STREAM_COMMANDS,
            durable="router-commands",
            handler=command_handler(runtime.store.db),
            filter_subject=subjects.THREAD_MOVES,
        ).start()
        await runtime.bus.consumer(
            stream=subjects.STREAM_COMMANDS,
            durable="router-customer-merges",
            handler=customer_merge_handler(runtime.store.db, runtime.bus),
            filter_subject=subjects.CUSTOMER_MERGES,
        ).start()
        await runtime.bus.consumer(
            stream=subjects.STREAM_ROUTED,
            durable="router-sent-replies",
            handler=delivery_handler(runtime.store.db),
            filter_subject=subjects.delivery_for_channel(MAIL),
        ).start()
        try:
            yield
        finally:
            await inbound.stop()
            source.remove_sighup()

    app.cleanup_ctx.append(consume)
    return app
