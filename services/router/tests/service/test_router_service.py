"""The router against a real nats-server and Mongo-wire store."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from inbox_core import subjects
from inbox_core.bus import Bus
from inbox_core.schema import Customer, InboundMessage, MessageFlags, RoutedMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import ROUTING_STATE, Store
from inbox_core.testing.http import collect, serve
from inbox_router.app import IGNORED, Router, create_app
from inbox_router.rules import load_rules
from inbox_router.settings import DEFAULT_RULES, RouterSettings


def _mail(
    external_id: str, text: str, refs: list[str] | None = None, **kw: object
) -> InboundMessage:
    return InboundMessage(
        channel="mail",
        account="cs",
        external_id=external_id,
        thread_keys=[f"mail:{external_id}"],
        references=refs or [],
        customer=Customer(id="kim@example.com", email="kim@example.com", name="김민수"),
        subject="배송 문의",
        text=text,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def bus(core_env: dict[str, str]) -> AsyncIterator[Bus]:
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await asyncio.wait_for(bus.provision(), timeout=10)
    yield bus
    await bus.close(grace=1)


@pytest.fixture
def sighup_ignored() -> Iterator[None]:
    """If the router failed to install its handler, a stray SIGHUP must not kill pytest."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


async def test_inbound_message_is_routed_with_team_and_sla(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())) as url:
        message = _mail("a1@example.com", "주문한 니트 배송이 언제 되나요?")
        await bus.publish_model(subjects.inbound("mail", "cs"), message, msg_id=message.dedup_id)
        [got] = await collect(bus.js, "inbox.routed.mail.cs", 1)
        routed = RoutedMessage.from_json(got.data)
        assert got.headers["Nats-Msg-Id"] == "routed:mail:cs:a1@example.com"
        assert routed.decision.team == "shipping" and routed.decision.category == "shipping"
        assert routed.decision.sla.first_response_due is not None
        assert routed.conversation_created is True
        assert routed.customer_id
        assert url


async def test_reply_joins_the_conversation_of_the_mail_it_answers(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())):
        first = _mail("q1@example.com", "배송 문의드립니다")
        reply = _mail("q2@example.com", "추가로 주소 변경 부탁드려요", refs=["mail:q1@example.com"])
        for m in (first, reply):
            await bus.publish_model(subjects.inbound("mail", "cs"), m, msg_id=m.dedup_id)
            await collect(bus.js, "inbox.routed.mail.cs", 1 if m is first else 2)
        msgs = await collect(bus.js, "inbox.routed.mail.cs", 2)
        a, b = (RoutedMessage.from_json(m.data) for m in msgs)
        assert a.conversation_id == b.conversation_id
        assert (a.conversation_created, b.conversation_created) == (True, False)


async def test_concurrent_messages_of_a_new_thread_get_one_conversation(
    core_env: dict[str, str],
) -> None:
    store = Store(CoreSettings())
    runtime = type("R", (), {"store": store})()
    router = Router(runtime, load_rules(DEFAULT_RULES))  # type: ignore[arg-type]
    try:
        messages = [
            InboundMessage(
                channel="facebook",
                account="page1",
                external_id=f"mid.{i}",
                thread_keys=["facebook:page1:psid-7"],
                customer=Customer(id="psid-7"),
                text=f"메시지 {i}",
            )
            for i in range(8)
        ]
        routed = await asyncio.wait_for(
            asyncio.gather(*(router.route(m) for m in messages)), timeout=20
        )
        again = await asyncio.wait_for(router.route(messages[3]), timeout=10)
    finally:
        await store.close()
    ids = {r.conversation_id for r in routed if r}
    assert len(ids) == 1
    assert sum(1 for r in routed if r and r.conversation_created) == 1
    assert again is not None and again.conversation_id in ids
    assert again.conversation_created == routed[3].conversation_created  # type: ignore[union-attr]


async def test_auto_reply_without_thread_creates_nothing_and_is_kept(bus: Bus) -> None:
    store = Store(CoreSettings())
    try:
        async with serve(create_app(RouterSettings())):
            ooo = _mail("ooo@example.com", "부재중입니다", flags=MessageFlags(auto_reply=True))
            normal = _mail("n1@example.com", "배송 문의")
            for m in (ooo, normal):
                await bus.publish_model(subjects.inbound("mail", "cs"), m, msg_id=m.dedup_id)
            [got] = await collect(bus.js, "inbox.routed.mail.cs", 1)
            assert RoutedMessage.from_json(got.data).message.external_id == "n1@example.com"
            kept = await asyncio.wait_for(store.db[IGNORED].find_one({}), timeout=5)
            assert kept is not None and kept["_id"] == "mail:cs:ooo@example.com"
            info = await bus.js.stream_info(subjects.STREAM_ROUTED)
            assert info.state.messages == 1
    finally:
        await store.close()


async def test_unreadable_message_goes_to_dead_letters(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())):
        await bus.publish("inbox.in.mail.cs", b"{not json", msg_id="bad-1")
        [letter] = await collect(bus.js, "inbox.dlq.>", 1)
        assert b"InvalidPayload" in letter.data


async def test_a_batch_routes_every_thread_in_order_in_few_round_trips(bus: Bus) -> None:
    """Forty messages waiting when the router starts are taken as one batch: every thread's
    two messages reach one conversation, routed in the order they came; an unreadable one in
    the same batch goes to the dead letters alone; the batch costs fewer store round trips
    than it has messages."""
    from inbox_core import metrics
    from inbox_core.bus import ORDER_KEY_HEADER

    def round_trips() -> float:
        return sum(
            s.value for s in metrics.STORE_COMMANDS.collect()[0].samples if "_total" in s.name
        )

    threads = 20
    for turn in range(2):
        for t in range(threads):
            message = InboundMessage(
                channel="kakao",
                account="shop",
                external_id=f"k{t}-{turn}",
                thread_keys=[f"kakao:shop:user-{t}"],
                customer=Customer(id=f"user-{t}", name="박지훈"),
                text=f"배송 문의 {turn}",
            )
            await bus.publish_model(
                subjects.inbound("kakao", "shop"),
                message,
                msg_id=message.dedup_id,
                headers={ORDER_KEY_HEADER: message.thread_keys[0]},
            )
        if turn == 0:
            await bus.publish("inbox.in.kakao.shop", b"{not json", msg_id="bad-in-batch")
    before = round_trips()
    async with serve(create_app(RouterSettings())):
        got = await collect(bus.js, "inbox.routed.kakao.shop", 2 * threads, timeout=30)
        [letter] = await collect(bus.js, "inbox.dlq.>", 1)
    spent = round_trips() - before
    assert b"InvalidPayload" in letter.data
    routed = [RoutedMessage.from_json(m.data) for m in got]
    by_thread: dict[str, list[RoutedMessage]] = {}
    for r in routed:
        by_thread.setdefault(r.message.thread_keys[0], []).append(r)
    assert len(by_thread) == threads
    for thread in by_thread.values():
        assert [r.message.external_id[-1] for r in thread] == ["0", "1"]  # stream order
        assert len({r.conversation_id for r in thread}) == 1
        assert [r.conversation_created for r in thread] == [True, False]
    assert spent < 2 * threads, f"{spent} store round trips for {2 * threads} messages"


# --- reloading the rules while messages flow ------------------------------------------------

RULES = (
    "rules:\n"
    "  - name: shipping\n"
    "    when: {{keywords: {{any: [배송]}}}}\n"
    "    set: {{team: {team}}}\n"
    "{extra}"
)
EXTRA_RULE = "  - name: restock\n    when: {keywords: {any: [재입고]}}\n    set: {team: product}\n"


def _write_rules(path: Path, team: str, extra: str = "") -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(RULES.format(team=team, extra=extra), encoding="utf-8")
    tmp.replace(path)  # an editor's atomic save


async def _health(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp:
            body: dict[str, Any] = await resp.json()
            return body


async def _until_rules(url: str, count: int, error: bool = False) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            rules = (await _health(url))["checks"]["rules"]
            if rules["rules"] == count and bool(rules["error"]) == error:
                return dict(rules)
            await asyncio.sleep(0.05)


async def _publish(bus: Bus, prefix: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        message = _mail(f"{prefix}-{i}@example.com", "배송 언제 와요")
        await bus.publish_model(subjects.inbound("mail", "cs"), message, msg_id=message.dedup_id)
        ids.append(message.external_id)
    return ids


async def _teams(bus: Bus, count: int) -> dict[str, str]:
    got = await collect(bus.js, "inbox.routed.mail.cs", count, timeout=30)
    routed = [RoutedMessage.from_json(m.data) for m in got]
    return {r.message.external_id: r.decision.team for r in routed}


async def test_rules_file_change_is_picked_up_without_dropping_messages(
    bus: Bus, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    _write_rules(path, "team-a")
    settings = RouterSettings(INBOX_ROUTER_RULES=str(path), INBOX_ROUTER_RULES_POLL_S=0.05)
    async with serve(create_app(settings)) as url:
        before = await _publish(bus, "before", 15)
        _write_rules(path, "team-b", EXTRA_RULE)
        during = await _publish(bus, "during", 15)
        await _until_rules(url, 2)
        after = await _publish(bus, "after", 15)
        teams = await _teams(bus, 45)
    assert set(teams) == {*before, *during, *after}  # none dropped, none duplicated
    assert set(teams.values()) <= {"team-a", "team-b"}
    assert {teams[i] for i in after} == {"team-b"}


async def test_sighup_reloads_rules_and_a_bad_file_keeps_the_old_ones(
    bus: Bus, tmp_path: Path, sighup_ignored: None
) -> None:
    path = tmp_path / "rules.yaml"
    _write_rules(path, "team-a")
    settings = RouterSettings(INBOX_ROUTER_RULES=str(path), INBOX_ROUTER_RULES_POLL_S=0)
    async with serve(create_app(settings)) as url:
        path.write_text("rules:\n  - name: shipping\n    set: {priority: asap}\n", "utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        health = await _until_rules(url, 1, error=True)
        assert "rule 'shipping' field set.priority" in health["error"]
        kept = await _publish(bus, "kept", 5)
        assert set((await _teams(bus, 5)).values()) == {"team-a"}  # routed before the fix
        _write_rules(path, "team-b", EXTRA_RULE)
        os.kill(os.getpid(), signal.SIGHUP)
        await _until_rules(url, 2)
        reloaded = await _publish(bus, "reloaded", 5)
        teams = await _teams(bus, 10)
    assert {teams[i] for i in kept} == {"team-a"}
    assert {teams[i] for i in reloaded} == {"team-b"}


async def test_router_publishes_its_category_table_for_the_notifier(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())):
        store = Store(CoreSettings())
        try:
            async with asyncio.timeout(10):
                while True:
                    doc = await store.db[ROUTING_STATE].find_one({"_id": "categories"})
                    if doc is not None:
                        break
                    await asyncio.sleep(0.1)
        finally:
            await store.close()
    assert doc["teams"]["returns"] == ["refund_return_exchange"]
    assert doc["tags"]["불량·누락·오배송"] == "defect_missing_wrong"
