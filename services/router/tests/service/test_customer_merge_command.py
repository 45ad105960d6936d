"""An admin merges two customers: the router carries out the notifier's CustomerMerge on its
own collections, so the other customer's next message, on any of its channels, links to the
customer it went into; carrying it out again, or after stopping half-way, changes nothing
more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from inbox_core.commands import CustomerMerge
from inbox_core.schema import Customer, InboundMessage, RoutedMessage
from inbox_core.store import CUSTOMER_KEYS, CUSTOMER_MERGES, CUSTOMERS, Store
from inbox_router.app import Router
from inbox_router.commands import merge_customers

Build = Callable[..., InboundMessage]
Route = Callable[[Router, InboundMessage], Awaitable[RoutedMessage]]


async def _merge(store: Store, other: str, into: str) -> bool:
    merge = CustomerMerge(from_customer_id=other, to_customer_id=into, by="minji")
    return await asyncio.wait_for(merge_customers(store.db, merge), timeout=10)


async def _customer(store: Store, customer_id: str) -> dict[str, object] | None:
    return await asyncio.wait_for(store.db[CUSTOMERS].find_one({"_id": customer_id}), timeout=5)


async def test_after_a_customer_merge_the_other_s_next_message_links_to_the_merged_customer(
    router: Router, store: Store, mail: Build, chat: Build, route: Route
) -> None:
    by_mail = await route(router, mail("m1@example.com"))
    on_kakao = await route(router, chat("k1", "교환 문의"))
    kim, park = by_mail.customer_id, on_kakao.customer_id
    assert kim and park and kim != park
    assert await _merge(store, park, kim)
    again = await route(router, chat("k2", "언제 교환되나요?"))
    assert again.customer_id == kim
    merged = await _customer(store, kim)
    assert merged is not None
    assert set(merged["identities"]) == {"mail:cs:kim@example.com", "kakao:shop:user-1"}  # type: ignore[arg-type]
    assert await _customer(store, park) is None
    alias = await store.db[CUSTOMER_MERGES].find_one({"_id": park})
    assert alias is not None and alias["into"] == kim and alias["by"] == "minji"
    keys = [d async for d in store.db[CUSTOMER_KEYS].find({"customer_id": park})]
    assert keys == []


async def test_a_customer_merge_carried_out_again_or_after_stopping_half_way_ends_the_same(
    router: Router, store: Store, mail: Build, chat: Build, route: Route
) -> None:
    kim = (await route(router, mail("m1@example.com"))).customer_id
    park = (await route(router, chat("k1", "교환 문의"))).customer_id
    assert kim and park
    assert await _merge(store, park, kim)
    # As if the router stopped before the last step: the identities never reached kim.
    await store.db[CUSTOMERS].update_one(
        {"_id": kim}, {"$pull": {"identities": "kakao:shop:user-1"}}
    )
    assert await _merge(store, park, kim)  # the redelivered command
    assert await _merge(store, park, kim)
    merged = await _customer(store, kim)
    assert merged is not None
    assert sorted(merged["identities"]) == ["kakao:shop:user-1", "mail:cs:kim@example.com"]  # type: ignore[arg-type]
    assert await _merge(store, "nobody", kim) is False  # unknown: nothing happens


async def test_a_key_the_merged_customer_s_record_lacks_leads_to_the_merged_customer(
    router: Router, store: Store, mail: Build, chat: Build, route: Route
) -> None:
    kim = (await route(router, mail("m1@example.com"))).customer_id
    park = (await route(router, chat("k1", "교환 문의"))).customer_id
    assert kim and park
    # A phone claimed for park by a message that never got to record it on park (it failed
    # after the claim): the merge, which moves the keys park's record holds, misses it.
    await store.db[CUSTOMER_KEYS].insert_one({"_id": "phone:01099998888", "customer_id": park})
    assert await _merge(store, park, kim)
    by_phone = Customer(id="tt-9", phone="010-9999-8888", name="박지훈")
    later = await route(router, chat("t1", "교환 문의", channel="naver_talktalk", user="tt-9",
                                     customer=by_phone))  # fmt: skip
    assert later.customer_id == kim
    assert await _customer(store, park) is None  # not brought back
    key = await store.db[CUSTOMER_KEYS].find_one({"_id": "phone:01099998888"})
    assert key is not None and key["customer_id"] == kim
    merged = await _customer(store, kim)
    assert merged is not None and "naver_talktalk:shop:tt-9" in merged["identities"]  # type: ignore[operator]
