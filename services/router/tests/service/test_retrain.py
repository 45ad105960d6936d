"""Retraining the routing model from agents' corrections (real nats-server and Mongo-wire
store): the admin request over NATS and the `inbox-router retrain` command; a model that
routes more held-out messages wrong than noise (1%) is refused, an accepted one is used at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from inbox_core import subjects
from inbox_core.bus import Bus
from inbox_core.schema import Customer, InboundMessage, RoutedMessage, utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import ROUTING_CORRECTIONS, ROUTING_STATE, Store
from inbox_core.testing.http import collect, serve
from inbox_router.app import create_app
from inbox_router.labelled import TRAINING_FILES, load_examples
from inbox_router.learning import RETRAIN_TOLERANCE
from inbox_router.settings import RouterSettings

ITEMS = (
    "신발 가방 시계 지갑 향수 모자 티셔츠 벨트 선글라스 목걸이 "
    "반지 후드 패딩 바지 니트 코트 머플러 장갑 운동화 귀걸이"
).split()


@pytest.fixture
async def bus(core_env: dict[str, str]) -> AsyncIterator[Bus]:
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await asyncio.wait_for(bus.provision(), timeout=10)
    yield bus
    await bus.close(grace=1)


@pytest.fixture
async def store(core_env: dict[str, str]) -> AsyncIterator[Store]:
    store = Store(CoreSettings())
    yield store
    await store.close()


def _correction(
    n: int, text: str, category: str, subject: str | None = "문의드려요"
) -> dict[str, Any]:
    """As the notifier stores an agent's team change."""
    return {
        "_id": f"conv-{n}",
        "kind": "team",
        "agent": "minji",
        "at": utcnow() - timedelta(minutes=1),
        "channel": "mail",
        "account": "cs",
        "subject": subject,
        "text": text,
        "to_category": category,
        "from_category": "shipping",
    }


async def _ask_retrain(bus: Bus) -> dict[str, Any]:
    assert bus.nc is not None
    reply = await bus.nc.request(subjects.ROUTER_RETRAIN, b"{}", timeout=300)
    return dict(orjson.loads(reply.data))


async def _route(bus: Bus, n: int, text: str) -> RoutedMessage:
    message = InboundMessage(
        channel="mail",
        account="cs",
        external_id=f"next-{n}@example.com",
        thread_keys=[f"mail:next-{n}@example.com"],
        customer=Customer(id=f"c{n}@example.com", email=f"c{n}@example.com"),
        subject="문의드려요",
        text=text,
    )
    await bus.publish_model(subjects.inbound("mail", "cs"), message, msg_id=message.dedup_id)
    got = await collect(bus.js, "inbox.routed.mail.cs", n + 1, timeout=30)  # from the start
    return RoutedMessage.from_json(got[-1].data)


async def test_retrain_learns_a_new_phrasing_from_corrections(bus: Bus, store: Store) -> None:
    async with serve(create_app(RouterSettings())):
        before = await _route(bus, 0, "혹시 짭은 아니겠죠 ㅎㅎ")
        assert before.decision.category != "product"
        await store.db[ROUTING_CORRECTIONS].insert_many(
            [_correction(i, f"{item} 짭 아니에요?", "product") for i, item in enumerate(ITEMS)]
        )
        result = await asyncio.wait_for(_ask_retrain(bus), timeout=320)
        assert result["accepted"], result["message"]
        assert result["version"] == 1 and result["corrections"] == len(ITEMS)
        allowed = int(RETRAIN_TOLERANCE * result["heldout"]["total"])  # noise: 2 of 262
        assert result["heldout"]["correct"] >= result["previous"]["correct"] - allowed
        doc = await store.db[ROUTING_STATE].find_one({"_id": "model"})
        assert doc is not None and doc["version"] == 1
        after = await _route(bus, 1, "혹시 짭은 아니겠죠 ㅎㅎ")
        assert after.decision.category == "product" and after.decision.team == "product"
        assert any(r.startswith("model: product") for r in after.decision.reasons)


async def test_retrain_that_routes_fewer_held_out_messages_right_is_refused(
    bus: Bus, store: Store
) -> None:
    # Careless corrections: every shipping example of the shipped set filed under app.
    shipping = [e for path in TRAINING_FILES for e in load_examples(path) if e.label == "shipping"]
    await store.db[ROUTING_CORRECTIONS].insert_many(
        [_correction(i, e.text, "app", e.subject) for i, e in enumerate(shipping)]
    )
    async with serve(create_app(RouterSettings())):
        result = await asyncio.wait_for(_ask_retrain(bus), timeout=320)
    assert not result["accepted"], result
    assert result["message"].startswith("refused: the retrained model routes")
    assert result["heldout"]["correct"] < result["previous"]["correct"]
    assert await store.db[ROUTING_STATE].find_one({"_id": "model"}) is None  # unchanged


def test_retrain_command_reports_and_records_the_new_version(
    core_env: dict[str, str],
) -> None:
    async def seed() -> None:
        store = Store(CoreSettings())
        try:
            await store.db[ROUTING_CORRECTIONS].insert_many(
                [_correction(i, f"{item} 짭 아니에요?", "product") for i, item in enumerate(ITEMS)]
            )
        finally:
            await store.close()

    asyncio.run(seed())
    done = subprocess.run(
        [sys.executable, "-m", "inbox_router", "retrain"],
        env={**os.environ, **core_env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "model version 1 trained with 20 corrections" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "inbox_router", "retrain", "--now"],
        env={**os.environ, **core_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "usage: inbox-router" in bad.stderr
