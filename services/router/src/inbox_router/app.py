"""Router service: INBOUND → conversation, customer, rules, SLA → ROUTED."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.bus import ORDER_KEY_HEADER
from inbox_core.errors import PermanentError
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import SCHEMA_VERSION, InboundMessage, RoutedMessage
from inbox_router.conversations import (
    INDEXES,
    find_conversation,
    link_customer,
    resolve_conversation,
)
from inbox_router.rules import RuleSet, load_rules
from inbox_router.settings import RouterSettings
from inbox_router.sla import first_response_sla

log = get_logger(__name__)

IGNORED = "ignored_messages"


class Router:
    def __init__(self, runtime: Runtime, rules: RuleSet) -> None:
        self.runtime = runtime
        self.rules = rules

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
        db = self.runtime.store.db
        flagged = message.flags.auto_reply or message.flags.bounce or message.flags.list_mail
        if flagged:
            # Rule 5: automatic mail never creates or reopens a conversation. It joins a known
            # thread silently, or is kept aside (never lost) when it has none.
            existing = await find_conversation(db, [*message.references, *message.thread_keys])
            if existing is None:
                await db[IGNORED].update_one(
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
                return None
        resolution = await resolve_conversation(db, message)
        customer_id = await link_customer(db, message)
        decision = self.rules.decide(message)
        decision.sla = first_response_sla(message.received_at, decision.priority, self.rules.sla)
        return RoutedMessage(
            message=message,
            conversation_id=resolution.conversation_id,
            customer_id=customer_id,
            conversation_created=resolution.created,
            reopen=not flagged,
            decision=decision,
        )


def create_app(settings: RouterSettings | None = None) -> web.Application:
    settings = settings or RouterSettings()
    indexes: dict[str, Any] = dict(INDEXES)
    runtime = Runtime("router", settings, indexes=indexes)
    router = Router(runtime, load_rules(settings.rules_path))
    app = create_base_app(runtime)

    async def consume(app: web.Application) -> Any:
        await runtime.bus.consumer(
            stream=subjects.STREAM_INBOUND, durable="router", handler=router.handle
        ).start()
        yield

    app.cleanup_ctx.append(consume)
    return app
