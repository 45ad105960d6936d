"""The reports API over a running notifier (real bus and store): the figures follow what the
queue and the agents did, a redelivered message counts once, the rebuild agrees, per-agent
figures are for admins, CSV opens in a spreadsheet, and a burst of one kind of question
fires one `spike.detected` on NATS and SSE."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient

from inbox_core import subjects
from inbox_core.schema import BotAnswer, utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import Store
from inbox_notifier.report_rebuild import rebuild_counters

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


@pytest.fixture
def notifier_env(notifier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("INBOX_SPIKE_MIN", "4")
    monkeypatch.setenv("INBOX_SPIKE_TICK_S", "0.2")
    return notifier_env


async def status_of(
    notifier: NotifierHarness, path: str, agent: str = "minji", **params: str
) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer token-{agent}"}
    async with notifier.http.get(f"{notifier.url}{path}", headers=headers, params=params) as r:
        return r.status, await r.read(), r.content_type


async def seed(notifier: NotifierHarness) -> None:
    await notifier.publish(notifier.routed(1, "c1", category="shipping"))
    await notifier.publish(
        notifier.routed(
            2,
            "c2",
            channel="kakao",
            account="shop",
            category="refund_return_exchange",
            team="refund",
            context={"product_name": "데일리 슬랙스"},
        )
    )
    await notifier.publish(notifier.routed(3, "c3", category="shipping"))
    # c1 redelivered (a new bus message id, so JetStream does not drop it): counted once
    await notifier.publish(notifier.routed(1, "c1", category="shipping"), msg_id="again")
    for cid in ("c1", "c2", "c3"):
        await notifier.wait_for(f"/api/conversations/{cid}", lambda b: b["message_count"] == 1)
    # the redelivery was applied (it bumps the version) before the agent answers
    await notifier.wait_for("/api/conversations/c1", lambda b: b["version"] >= 2)
    status, _ = await notifier.post("/api/conversations/c1/reply", {"text": "오늘 출고됩니다."})
    assert status == 201
    status, _ = await notifier.post(
        "/api/conversations/c2/status", {"status": "resolved"}, agent="junho"
    )
    assert status == 200


async def test_summary_and_live_follow_the_queue(notifier: NotifierHarness) -> None:
    await seed(notifier)
    body = await notifier.wait_for(
        "/api/reports/summary", lambda b: b["resolved"] == 1 and b["first_response"]["count"] == 1
    )
    assert body["created"] == 3
    assert {k: v["created"] for k, v in body["by_category"].items()} == {
        "shipping": 2,
        "refund_return_exchange": 1,
    }
    assert {k: v["created"] for k, v in body["by_channel"].items()} == {"mail": 2, "kakao": 1}
    assert body["by_product"]["데일리 슬랙스"]["created"] == 1
    assert body["first_response"]["within_sla"] == 1.0
    agents = {row["agent"]: row for row in body["by_agent"]}
    assert agents["minji"]["first_responses"] == 1 and agents["junho"]["resolved"] == 1
    assert body["backlog"]["open"] == 2 and body["backlog"]["by_team"]["shipping"]["open"] == 2

    live = await notifier.get("/api/reports/live")
    assert live["today"] == {
        "created": 3,
        "responded": 1,
        "response_rate": round(1 / 3, 4),
        "bot_answered": 0,
        "resolved": 1,
    }
    assert live["arrivals_last_hour"] == 3 and live["open"] == 2

    # An agent moves c3 to the refund team: the figures move with it.
    status, _ = await notifier.post("/api/conversations/c3/team", {"team": "refund"})
    assert status == 200
    body = await notifier.get("/api/reports/summary")
    assert {k: v["created"] for k, v in body["by_team"].items()} == {"shipping": 1, "refund": 2}
    assert body["backlog"]["by_team"]["refund"]["open"] == 1

    # The rebuild from the stored conversations and messages gives the same figures.
    store = Store(CoreSettings())
    try:
        await rebuild_counters(store.db)
    finally:
        await store.close()
    assert await notifier.get("/api/reports/summary") == body


async def test_per_agent_figures_are_for_admins(notifier: NotifierHarness) -> None:
    await seed(notifier)
    await notifier.wait_for("/api/reports/summary", lambda b: b["resolved"] == 1)
    as_agent = await notifier.get("/api/reports/summary", agent="junho")
    assert as_agent["by_agent"] is None and as_agent["created"] == 3
    status, raw, _ = await status_of(notifier, "/api/reports/timeseries", "junho", by="agent")
    assert status == 403 and orjson.loads(raw)["code"] == "forbidden"
    status, raw, _ = await status_of(
        notifier, "/api/reports/timeseries", by="agent", metric="resolved"
    )
    assert status == 200
    assert sum(b["counts"].get("junho", 0) for b in orjson.loads(raw)["buckets"]) == 1
    status, raw, _ = await status_of(notifier, "/api/reports/summary", "junho", format="csv")
    assert status == 200 and "agent," not in raw.decode("utf-8-sig")


async def test_csv_and_bad_periods(notifier: NotifierHarness) -> None:
    await seed(notifier)
    await notifier.wait_for("/api/reports/summary", lambda b: b["resolved"] == 1)
    status, raw, content_type = await status_of(notifier, "/api/reports/summary", format="csv")
    assert status == 200 and content_type == "text/csv"
    assert raw.startswith("\ufeff".encode())  # spreadsheets read the Korean as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["section", "key", "created"]
    assert ["category", "shipping", "2"] == rows[
        [r[:2] for r in rows].index(["category", "shipping"])
    ][:3]
    assert ["product", "데일리 슬랙스"] in [r[:2] for r in rows]
    status, raw, _ = await status_of(
        notifier, "/api/reports/timeseries", interval="hour", by="category", format="csv"
    )
    assert status == 200
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["start", "category", "created"]
    assert sum(int(r[2]) for r in rows[1:] if r[1] == "shipping") == 2
    for params, field in [
        ({"from": "어제"}, "from"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-03-01", "interval": "hour"}, "to"),
    ]:
        path = "/api/reports/timeseries" if "interval" in params else "/api/reports/summary"
        status, raw, _ = await status_of(notifier, path, **params)
        assert status == 422, params
        assert orjson.loads(raw)["errors"][0]["field"] == field


async def test_a_burst_of_one_category_fires_one_spike_on_nats_and_sse(
    notifier: NotifierHarness, nats_server: Any
) -> None:
    nc = NATS()
    await nc.connect(nats_server.url)
    seen: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        seen.append(orjson.loads(msg.data))

    await nc.subscribe(subjects.event("spike.detected"), cb=collect)
    try:
        await notifier.publish(notifier.routed(100, "x1", category="shipping"))
        for n in range(6):  # a coupon that does not apply: six questions at once
            await notifier.publish(notifier.routed(10 + n, f"k{n}", category="coupon"))
        live = await notifier.wait_for("/api/reports/live", lambda b: b["spikes"])
        spike = live["spikes"][0]
        assert (spike["dimension"], spike["key"], spike["type"]) == (
            "category",
            "coupon",
            "spike.detected",
        )
        assert spike["count"] >= 4 and spike["window_s"] == 900
        assert 1 <= len(spike["examples"]) <= 5
        assert set(spike["examples"]) <= {f"k{n}" for n in range(6)}
        events = await notifier.events(1, types="spike.detected")
        assert events[0]["data"]["id"] == spike["id"]
        await asyncio.sleep(1.5)  # several more ticks: still one spike for this burst
        assert [e["key"] for e in seen] == ["coupon"]
        live = await notifier.get("/api/reports/live")
        assert [s["key"] for s in live["spikes"]] == ["coupon"]
    finally:
        await nc.close()


async def test_the_bots_answer_is_not_an_agents_first_response(notifier: NotifierHarness) -> None:
    bot = BotAnswer(faq_id="faq-shipping-fee", score=0.93, text="배송비는 3,000원입니다.")
    await notifier.publish(
        notifier.routed(
            1, "b1", channel="kakao", account="shop", category="shipping", bot_answer=bot
        )
    )
    await notifier.publish(notifier.routed(2, "b2", channel="kakao", account="shop"))
    await notifier.wait_for("/api/conversations/b1", lambda b: b["status"] == "resolved")
    body = await notifier.wait_for("/api/reports/summary", lambda b: b["created"] == 2)
    assert body["bot_answered"] == {"count": 1, "share": 0.5}
    assert body["first_response"]["count"] == 0 and body["resolved"] == 1
    assert body["by_agent"] == []  # the bot is nobody's first response or resolution
    live = await notifier.get("/api/reports/live")
    assert live["today"]["responded"] == 0 and live["today"]["bot_answered"] == 1
    # An agent's answer to the customer's next question is the first response.
    status, _ = await notifier.post("/api/conversations/b1/status", {"status": "open"})
    assert status == 200
    status, _ = await notifier.post("/api/conversations/b1/reply", {"text": "확인했습니다."})
    assert status == 201
    body = await notifier.get("/api/reports/summary")
    assert body["first_response"]["count"] == 1
    assert [a["agent"] for a in body["by_agent"]] == ["minji"]


async def test_live_board_lists_what_falls_due_within_the_hour(
    notifier: NotifierHarness, core_env: dict[str, str]
) -> None:
    """Open conversations due in the next hour, soonest first, whatever their breach flag
    (false, true after an earlier deadline, or never set)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        core_env["MONGODB_URL"], tz_aware=True
    )
    now = utcnow()
    due = {  # id: (status, sla, due in minutes)
        "d-unset": ("open", {}, 20),
        "d-false": ("open", {"breached": False}, 40),
        "d-true": ("open", {"breached": True}, 10),
        "d-later": ("open", {"breached": False}, 120),
        "d-resolved": ("resolved", {"breached": False}, 5),
    }
    docs = [
        {
            "_id": cid,
            "number": 900 + i,
            "status": status,
            "sla": sla,
            "sla_deadline": now + timedelta(minutes=minutes),
            "sort_due": now + timedelta(minutes=minutes),  # as the notifier writes it
        }
        for i, (cid, (status, sla, minutes)) in enumerate(due.items())
    ]
    try:
        await asyncio.wait_for(
            client[core_env["INBOX_MONGODB_DB"]]["conversations"].insert_many(docs), 10
        )
        live = await notifier.get("/api/reports/live")
    finally:
        await client.close()
    assert live["due_within_hour"] == 3
    assert [d["id"] for d in live["due_soon"]] == ["d-true", "d-unset", "d-false"]
