"""Atomic under concurrency and redelivery, against the real store: racing messages agree on
one conversation (and one customer); a redelivered message changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from inbox_core.errors import TransientError
from inbox_core.schema import Customer, InboundMessage, RoutedMessage
from inbox_core.store import CUSTOMERS, THREADS, Store
from inbox_router.app import Router
from inbox_router.customers import CUSTOMER_KEYS

Build = Callable[..., InboundMessage]
Route = Callable[[Router, InboundMessage], Awaitable[RoutedMessage]]
Remember = Callable[..., Awaitable[None]]
RACERS = 8


async def _race(router: Router, messages: list[InboundMessage]) -> list[RoutedMessage]:
    routed = await asyncio.wait_for(
        asyncio.gather(*(router.route(m) for m in messages)), timeout=30
    )
    assert all(r is not None for r in routed)
    return [r for r in routed if r is not None]


async def _snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every document the router writes, minus the 'last seen' timestamp of customers."""
    result = {}
    for name in (THREADS, CUSTOMERS, CUSTOMER_KEYS):
        docs = await asyncio.wait_for(store.db[name].find({}).sort("_id").to_list(), timeout=5)
        result[name] = [{k: v for k, v in d.items() if k != "updated_at"} for d in docs]
    return result


def _comparable(routed: RoutedMessage) -> dict[str, Any]:
    return routed.model_dump(mode="json", exclude={"routed_at"})


async def test_concurrent_replies_after_the_window_create_one_linked_conversation(
    router: Router, mail: Build, route: Route, store_conversation: Remember
) -> None:
    old = await route(router, mail("old@example.com"))
    await store_conversation(old, status="resolved", resolved_ago=timedelta(days=20))
    replies = [
        mail(f"reply-{i}@example.com", f"다시 문의 {i}", refs=["mail:old@example.com"])
        for i in range(RACERS)
    ]
    routed = await _race(router, replies)
    ids = {r.conversation_id for r in routed}
    assert len(ids) == 1 and old.conversation_id not in ids
    creators = [r for r in routed if r.conversation_created]
    assert len(creators) == 1
    assert creators[0].linked_conversation_id == old.conversation_id


async def test_concurrent_new_mails_with_the_same_subject_get_one_conversation(
    router: Router, mail: Build
) -> None:
    mails = [mail(f"same-{i}@example.com", f"문의 {i}", subject="주문 변경") for i in range(RACERS)]
    routed = await _race(router, mails)
    assert len({r.conversation_id for r in routed}) == 1
    assert sum(r.conversation_created for r in routed) == 1


async def test_concurrent_first_messages_with_the_same_email_get_one_customer(
    router: Router, store: Store, chat: Build
) -> None:
    channels = ["kakao", "naver_talktalk", "instagram", "facebook"]
    messages = [
        chat(f"first-{c}", "안녕하세요", channel=c, user=f"{c}-user",
             customer=Customer(id=f"{c}-user", email="choi@example.com"))
        for c in channels
    ]  # fmt: skip
    routed = await _race(router, messages)
    assert len({r.customer_id for r in routed}) == 1
    customers = await asyncio.wait_for(store.db[CUSTOMERS].find({}).to_list(), timeout=5)
    assert len(customers) == 1
    assert sorted(customers[0]["identities"]) == sorted(f"{c}:shop:{c}-user" for c in channels)
    assert customers[0]["emails"] == ["choi@example.com"]


async def test_redelivered_message_changes_nothing(
    router: Router, store: Store, mail: Build, route: Route
) -> None:
    message = mail("again@example.com", "배송 언제 와요")
    first = await route(router, message)
    before = await _snapshot(store)
    again = await route(router, message)
    assert _comparable(again) == _comparable(first)
    assert again.conversation_created
    assert await _snapshot(store) == before


async def test_redelivered_messages_racing_each_other_agree(router: Router, chat: Build) -> None:
    message = chat("dup-1", "배송 문의")
    routed = await _race(router, [message] * RACERS)
    assert len({r.conversation_id for r in routed}) == 1
    assert len({r.customer_id for r in routed}) == 1
    assert all(r.conversation_created for r in routed)  # each copy is the creating message


async def test_a_message_that_failed_half_way_routes_as_new_when_it_comes_again(
    router: Router, store: Store, chat: Build, route: Route, monkeypatch: Any
) -> None:
    """The customer is linked while the conversation is resolved: when one of the two fails
    the message fails (the other finishes its writes), and its redelivery routes it as a
    first delivery would, with nothing written twice."""
    import inbox_router.app as app

    async def fails(*_: Any, **__: Any) -> Any:
        raise TransientError("store hiccup")

    for where, name in ((router.resolver, "_thread_docs"), (app, "link_customer")):
        message = chat(f"half-{name}", "배송 언제 와요", user=f"user-{name}")
        with monkeypatch.context() as patched:
            patched.setattr(where, name, fails)
            with pytest.raises(TransientError):
                await asyncio.wait_for(router.route(message), timeout=10)
        if name == "_thread_docs":  # the customer was linked all the same
            customer = await store.db[CUSTOMERS].find_one({"identities": f"kakao:shop:user-{name}"})
            assert customer is not None
        first = await route(router, message)
        assert first.conversation_created and first.customer_id
        before = await _snapshot(store)
        again = await route(router, message)
        assert _comparable(again) == _comparable(first)
        assert await _snapshot(store) == before
