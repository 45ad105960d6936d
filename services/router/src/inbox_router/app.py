"""Router service: INBOUND → customer, conversation, rules, SLA → ROUTED."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.bus import ORDER_KEY_HEADER
from inbox_core.calendar import BusinessCalendar
from inbox_core.errors import PermanentError
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import SCHEMA_VERSION, InboundMessage, RoutedMessage
from inbox_router.conversations import INDEXES, ConversationResolver
from inbox_router.customers import customer_facts, find_customer, link_customer
from inbox_router.facts import DEFAULT_CALENDAR, ConversationFacts, MatchFacts
from inbox_router.reload import RuleSource
from inbox_router.rules import RuleSet
from inbox_router.settings import RouterSettings

log = get_logger(__name__)

IGNORED = "ignored_messages"  # router: automatic mail without a conversation, kept aside


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
        self.calendar = calendar or DEFAULT_CALENDAR
        self.resolver = ConversationResolver(
            runtime.store.db,
            reopen_window=settings.reopen_window,
            subject_channels=settings.subject_channels,
        )

    async def handle(self, msg: Msg) -> None:
        message = InboundMessage.from_json(msg.data)
        if message.schema_version > SCHEMA_VERSION:
            raise PermanentError(f"schema_version {message.schema_version} is newer than ours")
        routed = await self.route(message)
        if routed is None:
            return
        await self.runtime.bus.publish_model(
            subjects.routed(message.channel, message.account),
            routed,
            msg_id=f"routed:{message.dedup_id}",
            headers={ORDER_KEY_HEADER: routed.conversation_id},
        )

    async def route(self, message: InboundMessage) -> RoutedMessage | None:
        rules = self.rules.current  # one rule set for the whole message, even across a reload
        db = self.runtime.store.db
        flags = message.flags
        if flags.auto_reply or flags.bounce or flags.list_mail:
            # Rule 5: automatic mail creates no customer and no conversation.
            customer = await find_customer(db, message)
        else:
            customer = await link_customer(db, message)
        resolution = await self.resolver.resolve(message, customer.id if customer else None)
        if resolution is None:
            await self._keep_aside(message)
            return None
        facts = MatchFacts(
            customer=await customer_facts(db, customer, resolution.conversation_id),
            conversation=ConversationFacts(
                id=resolution.conversation_id,
                number=resolution.number,
                created=resolution.created,
            ),
            calendar=self.calendar,
        )
        decision = rules.decide(message, facts)
        decision.reasons.insert(0, f"conversation: {resolution.how}")
        return RoutedMessage(
            message=message,
            conversation_id=resolution.conversation_id,
            customer_id=customer.id if customer else None,
            conversation_created=resolution.created,
            reopen=resolution.reopen,
            linked_conversation_id=resolution.linked_conversation_id,
            decision=decision,
        )

    async def _keep_aside(self, message: InboundMessage) -> None:
        """Automatic mail without a known conversation is kept (never lost), not routed."""
        await self.runtime.store.db[IGNORED].update_one(
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
    app = create_base_app(runtime)

    async def consume(app: web.Application) -> AsyncIterator[None]:
        source.install_sighup()
        if settings.rules_poll_s > 0:
            runtime.spawn(source.watch(settings.rules_poll_s), "rules-watch")
        await runtime.bus.consumer(
            stream=subjects.STREAM_INBOUND, durable="router", handler=router.handle
        ).start()
        try:
            yield
        finally:
            source.remove_sighup()

    app.cleanup_ctx.append(consume)
    return app
