"""Shared set-up for router service tests: a real Mongo-wire store per test (own database,
from `core_env`) and the router's `route()` called directly, so each conversation rule can be
set up by writing conversation documents the way the notifier does.

Helpers are factory fixtures (`mail`, `chat`, `route`, `store_conversation`): test modules
do not import each other or this file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from inbox_core.schema import Customer, InboundMessage, RoutedMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, Store
from inbox_core.text import normalise_subject
from inbox_router.app import Router
from inbox_router.conversations import INDEXES
from inbox_router.rules import RuleSet, load_rules
from inbox_router.settings import DEFAULT_RULES, RouterSettings

# Tuesday 2025-09-30 11:00 in Seoul: inside business hours.
NOW = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)
KIM = Customer(id="kim@example.com", email="kim@example.com", name="김민수")
LEE = Customer(id="lee@example.com", email="lee@example.com", name="이서연")


def _mail(
    external_id: str,
    text: str = "배송 문의드립니다",
    *,
    refs: list[str] | None = None,
    subject: str | None = "배송 문의",
    customer: Customer = KIM,
    at: datetime = NOW,
    **kw: Any,
) -> InboundMessage:
    return InboundMessage(
        channel="mail",
        account="cs",
        external_id=external_id,
        thread_keys=[f"mail:{external_id}"],
        references=refs or [],
        customer=customer,
        subject=subject,
        text=text,
        received_at=at,
        **kw,
    )


def _chat(
    external_id: str,
    text: str,
    *,
    channel: str = "kakao",
    user: str = "user-1",
    at: datetime = NOW,
    **kw: Any,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account="shop",
        external_id=external_id,
        thread_keys=[f"{channel}:shop:{user}"],
        customer=kw.pop("customer", Customer(id=user, name="박지훈")),
        text=text,
        received_at=at,
        **kw,
    )


@pytest.fixture
async def store(core_env: dict[str, str]) -> AsyncIterator[Store]:
    store = Store(CoreSettings())
    try:
        await asyncio.wait_for(store.wait_ready(), timeout=20)
        await asyncio.wait_for(store.ensure_indexes(INDEXES), timeout=10)
        yield store
    finally:
        await asyncio.wait_for(store.close(), timeout=10)


RouterFactory = Callable[..., Router]


@pytest.fixture
def make_router(store: Store) -> RouterFactory:
    def make(rules: RuleSet | None = None, **settings: Any) -> Router:
        runtime = SimpleNamespace(store=store)
        rule_set = rules or load_rules(DEFAULT_RULES)
        return Router(runtime, rule_set, RouterSettings(**settings))  # type: ignore[arg-type]

    return make


@pytest.fixture
def router(make_router: RouterFactory) -> Router:
    return make_router()


async def _route(router: Router, message: InboundMessage) -> RoutedMessage:
    routed = await asyncio.wait_for(router.route(message), timeout=10)
    assert routed is not None, "the message was kept aside"
    return routed


async def _store_conversation(
    store: Store,
    routed: RoutedMessage,
    *,
    status: str = "open",
    resolved_ago: timedelta | None = None,
    number: int | None = None,
    subject: str | None = None,
) -> None:
    """Write the conversation of `routed` as the notifier does (the fields the router reads)."""
    message = routed.message
    subject = subject if subject is not None else message.subject
    doc = {
        "number": number,
        "status": status,
        "resolved_at": message.received_at - resolved_ago if resolved_ago is not None else None,
        "channel": message.channel,
        "account": message.account,
        "customer_id": routed.customer_id,
        "subject": subject,
        "subject_norm": normalise_subject(subject),
        "last_message_at": message.received_at,
    }
    await asyncio.wait_for(
        store.db[CONVERSATIONS].update_one(
            {"_id": routed.conversation_id}, {"$set": doc}, upsert=True
        ),
        timeout=5,
    )


MailFactory = Callable[..., InboundMessage]
RouteFn = Callable[[Router, InboundMessage], Awaitable[RoutedMessage]]
StoreConversation = Callable[..., Awaitable[None]]


@pytest.fixture
def mail() -> MailFactory:
    """`mail(external_id, text, refs=[...], subject=..., customer=..., flags=...)`"""
    return _mail


@pytest.fixture
def chat() -> MailFactory:
    """`chat(external_id, text, channel="kakao", user="user-1", customer=...)`"""
    return _chat


@pytest.fixture
def route() -> RouteFn:
    """`await route(router, message)`: routed within a timeout, never kept aside."""
    return _route


@pytest.fixture
def store_conversation(store: Store) -> StoreConversation:
    """`await store_conversation(routed, status=..., resolved_ago=..., number=...)`"""

    async def write(routed: RoutedMessage, **kw: Any) -> None:
        await _store_conversation(store, routed, **kw)

    return write
