"""After an agent merges or splits conversations, the customer's next message lands where
the agent put the thread: the router follows `merged_into`, and carries out the notifier's
ThreadMove commands on its thread keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from inbox_core.commands import ThreadMove
from inbox_core.schema import InboundMessage, RoutedMessage
from inbox_core.store import CONVERSATIONS, THREADS, Store
from inbox_router.app import Router
from inbox_router.commands import move_threads

Build = Callable[..., InboundMessage]
Route = Callable[[Router, InboundMessage], Awaitable[RoutedMessage]]
Remember = Callable[..., Awaitable[None]]


async def _merge(store: Store, other: str, into: str) -> None:
    await asyncio.wait_for(
        store.db[CONVERSATIONS].update_one(
            {"_id": other}, {"$set": {"status": "merged", "merged_into": into}}
        ),
        timeout=5,
    )


async def test_reply_to_a_merged_conversation_joins_the_one_it_went_into(
    router: Router,
    store: Store,
    mail: Build,
    chat: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    by_mail = await route(router, mail("q1@example.com"))
    on_kakao = await route(router, chat("k1", "배송 언제 와요"))
    await store_conversation(by_mail, status="open")
    await store_conversation(on_kakao, status="open")
    await _merge(store, by_mail.conversation_id, on_kakao.conversation_id)
    # Before the router got the ThreadMove: it follows merged_into, and repoints the key.
    reply = await route(router, mail("q2@example.com", "주소 변경", refs=["mail:q1@example.com"]))
    assert reply.conversation_id == on_kakao.conversation_id
    assert not reply.conversation_created and reply.reopen
    key = await store.db[THREADS].find_one({"_id": "mail:q1@example.com"})
    assert key is not None and key["conversation_id"] == on_kakao.conversation_id


async def test_thread_move_repoints_every_key_of_the_merged_conversation(
    router: Router, store: Store, mail: Build, route: Route, store_conversation: Remember
) -> None:
    first = await route(router, mail("a1@example.com", subject="환불 문의"))
    second = await route(router, mail("b1@example.com", subject="반품 접수"))
    await store_conversation(first)
    await store_conversation(second)
    moved = await move_threads(
        store.db,
        ThreadMove(
            from_conversation_id=second.conversation_id,
            to_conversation_id=first.conversation_id,
            reason="merge",
        ),
    )
    assert moved >= 1
    keys = [d async for d in store.db[THREADS].find({"conversation_id": second.conversation_id})]
    assert keys == []
    reply = await route(router, mail("b2@example.com", "언제 되나요", refs=["mail:b1@example.com"]))
    assert reply.conversation_id == first.conversation_id


async def test_thread_move_of_some_keys_leaves_the_others(
    router: Router, store: Store, mail: Build, route: Route, store_conversation: Remember
) -> None:
    first = await route(router, mail("s1@example.com"))
    await store_conversation(first)
    second = await route(router, mail("s2@example.com", "다른 질문", refs=["mail:s1@example.com"]))
    assert second.conversation_id == first.conversation_id
    await move_threads(
        store.db,
        ThreadMove(
            from_conversation_id=first.conversation_id,
            to_conversation_id="split-part",
            keys=["mail:s2@example.com"],
            reason="split",
        ),
    )
    to_split = await route(router, mail("s3@example.com", "그건요", refs=["mail:s2@example.com"]))
    to_first = await route(router, mail("s4@example.com", "처음 건", refs=["mail:s1@example.com"]))
    assert to_split.conversation_id == "split-part"
    assert to_first.conversation_id == first.conversation_id
