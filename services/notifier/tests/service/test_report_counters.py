"""Report figures from a known set of conversations, replies and resolutions, on the real
store: the counters are moved by each change as the notifier makes it, the reports read them,
and `inbox-reports rebuild` gives the same numbers from the stored conversations alone.

Times are Asia/Seoul. The set crosses midnight (asked at 23:50, answered at 00:10), a
weekend outside business hours (asked Friday 17:50, answered Monday 09:30, within a
one-business-hour SLA) and the day boundary itself (23:59:59 and 00:00:00).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from inbox_core.schema import utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, MESSAGES, Store
from inbox_notifier import reports
from inbox_notifier.queue import INDEXES
from inbox_notifier.report_counters import REPORT_COUNTERS, counter_ops
from inbox_notifier.report_rebuild import rebuild_counters
from inbox_notifier.spikes import SpikeRule, SpikeWatch, backfill_arrivals

KST = ZoneInfo("Asia/Seoul")


def kst(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=KST)


def conv(cid: str, created: datetime, **fields: Any) -> dict[str, Any]:
    doc = {
        "_id": cid,
        "status": "open",
        "channel": "mail",
        "account": "cs",
        "team": "shipping",
        "category": "shipping",
        "product": None,
        "created_at": created,
        "resolved_at": None,
        "sla": {"first_response_due": created + timedelta(hours=24), "breached": False},
    }
    doc.update(fields)
    return doc


def step(doc: dict[str, Any], sla: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {**doc, **fields, "sla": {**doc["sla"], **(sla or {})}}


def replied(doc: dict[str, Any], at: datetime, by: str) -> dict[str, Any]:
    return step(doc, {"first_response_at": at, "first_response_by": by, "breached": False})


def resolved(doc: dict[str, Any], at: datetime, by: str | None) -> dict[str, Any]:
    return step(doc, status="resolved", resolved_at=at, resolved_by=by)


def history() -> list[list[dict[str, Any]]]:
    """Each conversation's states in the order the notifier writes them."""
    c1 = conv("c1", kst("2026-11-30", "23:50"))  # crosses midnight
    c1_replied = replied(c1, kst("2026-12-01", "00:10"), "minji")
    c2 = conv(
        "c2",
        kst("2026-11-27", "17:50"),  # Friday evening; due Monday 09:50 in business time
        channel="naver_commerce",
        account="smartstore",
        team="refund",
        category="refund_return_exchange",
        product="데일리 슬랙스",
        sla={"first_response_due": kst("2026-11-30", "09:50"), "breached": False},
    )
    c3 = conv(
        "c3",
        kst("2026-12-01", "14:00"),
        channel="kakao",
        team="general",
        category="product",
        product="데일리 슬랙스",
        sla={"first_response_due": kst("2026-12-01", "14:03"), "breached": False},
    )
    c3_replied = replied(c3, kst("2026-12-01", "14:05"), "junho")  # two minutes late
    c4 = conv("c4", kst("2026-12-01", "15:00"), channel="kakao")
    c5 = conv("c5", kst("2026-12-01", "16:00"))
    c6 = conv("c6", kst("2026-12-01", "09:00"), category="defect_missing_wrong", team="claims")
    c6_resolved = resolved(c6, kst("2026-12-01", "10:00"), "minji")
    c7 = conv("c7", kst("2026-12-01", "11:00"), channel="kakao", team="general")
    c7_bot = step(
        c7,
        {"first_response_at": kst("2026-12-01", "11:00:01"), "first_response_by": "bot"},
        tags=["bot_answered"],
    )
    return [
        [c1, c1_replied, resolved(c1_replied, kst("2026-12-01", "10:00"), "minji")],
        [c2, replied(c2, kst("2026-11-30", "09:30"), "junho")],
        [c3, c3_replied, resolved(c3_replied, kst("2026-12-01", "14:30"), "junho")],
        [c4, step(c4, {"breached": True})],  # the SLA timer fired; nobody answered yet
        [c5, step(c5, status="pending")],
        # resolved without an answer, then the customer wrote again: not resolved any more
        [c6, c6_resolved, step(c6_resolved, status="open", resolved_at=None, resolved_by=None)],
        [c7, c7_bot, resolved(c7_bot, kst("2026-12-01", "11:00:01"), None)],
        [conv("c8", kst("2026-12-01", "23:59:59"))],
        [conv("c9", kst("2026-12-02", "00:00:00"))],
    ]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def close_to(got: float | None, exact: float) -> bool:
    """Medians come from histograms with 10% wide buckets."""
    return got is not None and abs(got - exact) <= 0.05 * exact + 1


@pytest.fixture
async def db(core_env: dict[str, str]) -> AsyncIterator[Any]:
    store = Store(CoreSettings())
    try:
        yield store.db
    finally:
        await store.close()


async def apply_history(db: Any, *, redeliver: bool = False) -> None:
    for states in history():
        previous = None
        for state in states:
            await db[REPORT_COUNTERS].bulk_write(counter_ops([(previous, state)]))
            if redeliver:  # the same write again changed nothing, so it counts nothing
                ops = counter_ops([(state, state)])
                assert ops == []
            previous = state
        await db[CONVERSATIONS].insert_one(previous)


def day(d: str) -> tuple[datetime, datetime]:
    start = kst(d, "00:00")
    return start, start + timedelta(days=1)


async def test_summary_of_a_day_counts_what_happened_that_day_in_seoul(db: Any) -> None:
    await apply_history(db, redeliver=True)
    got = await reports.summary(db, *day("2026-12-01"), with_agents=True)
    assert got["from"] == "2026-12-01T00:00:00+09:00" and got["to"] == "2026-12-02T00:00:00+09:00"
    # c3 c4 c5 c6 c7 and c8 (23:59:59) arrived on the 1st; c1 the evening before, c9 at 00:00
    assert got["created"] == 6
    # answered on the 1st: c1 (past midnight, 20 min, in time) and c3 (5 min, 2 min late);
    # the bot's answer to c7 is not a first response
    fr = got["first_response"]
    assert fr["count"] == 2 and fr["within_sla"] == 0.5 and fr["breached"] == 1
    assert close_to(fr["median_s"], nearest_rank([1200, 300], 0.5))
    assert close_to(fr["p90_s"], nearest_rank([1200, 300], 0.9))
    # resolved on the 1st and still resolved: c1, c3 and c7; c6 was reopened
    assert got["resolved"] == 3
    resolution = [10 * 3600 + 600, 1800, 1]
    assert close_to(got["resolution"]["median_s"], nearest_rank(resolution, 0.5))
    assert got["bot_answered"] == {"count": 1, "share": round(1 / 6, 4)}
    assert {k: v["created"] for k, v in got["by_category"].items()} == {
        "shipping": 4,
        "product": 1,
        "defect_missing_wrong": 1,
    }
    assert {k: v["created"] for k, v in got["by_channel"].items()} == {"mail": 3, "kakao": 3}
    assert got["by_channel"]["mail"]["first_responses"] == 1  # c1
    assert got["by_team"]["general"]["first_responses"] == 1  # c3
    assert got["by_team"]["general"]["within_sla"] == 0.0
    agents = {row["agent"]: row for row in got["by_agent"]}
    assert set(agents) == {"minji", "junho"}  # never the bot
    assert (agents["minji"]["first_responses"], agents["minji"]["resolved"]) == (1, 1)
    assert (agents["junho"]["first_responses"], agents["junho"]["within_sla"]) == (1, 0.0)
    # the queue now: c2 (answered, not resolved) c4 c6 c8 c9 open (c4 breached), c5 pending
    assert got["backlog"] == {
        "open": 5,
        "pending": 1,
        "breached": 1,
        "by_team": {
            "claims": {"open": 1, "pending": 0, "breached": 0},
            "refund": {"open": 1, "pending": 0, "breached": 0},
            "shipping": {"open": 3, "pending": 1, "breached": 1},
        },
    }


async def test_answer_after_a_weekend_is_within_a_business_hours_sla(db: Any) -> None:
    await apply_history(db)
    monday = await reports.summary(db, *day("2026-11-30"), with_agents=False)
    assert monday["created"] == 1  # c1 at 23:50
    fr = monday["first_response"]
    # c2: asked Friday 17:50, answered Monday 09:30: 63 h 40 min of wall time, yet in time
    assert fr["count"] == 1 and fr["within_sla"] == 1.0
    assert close_to(fr["median_s"], 63 * 3600 + 40 * 60)
    assert monday["by_agent"] is None
    assert monday["by_product"] == {}
    friday = await reports.summary(db, *day("2026-11-27"), with_agents=False)
    assert friday["created"] == 1 and friday["first_response"]["count"] == 0
    assert friday["by_product"]["데일리 슬랙스"]["created"] == 1


async def test_a_part_of_a_day_is_counted_by_whole_hours(db: Any) -> None:
    await apply_history(db)
    got = await reports.summary(
        db, kst("2026-12-01", "14:00"), kst("2026-12-01", "15:30"), with_agents=False
    )
    assert (got["from"], got["to"]) == ("2026-12-01T14:00:00+09:00", "2026-12-01T16:00:00+09:00")
    assert got["created"] == 2  # c3, c4; c5 came at 16:00
    week = await reports.summary(
        db, kst("2026-11-27", "12:00"), kst("2026-12-02", "06:00"), with_agents=False
    )
    assert week["created"] == 9 and week["first_response"]["count"] == 3
    # whole months are read from month buckets: November and December together
    months = await reports.summary(
        db, kst("2026-11-01", "00:00"), kst("2027-01-01", "00:00"), with_agents=False
    )
    assert reports.period_buckets(kst("2026-11-01", "00:00"), kst("2027-01-01", "00:00")) == [
        ("m|2026-11", 1),
        ("m|2026-12", 1),
    ]
    assert months["created"] == 9 and months["resolved"] == 3
    # most of a month is the month minus the days left out: 2 Nov to 1 Dec 14:00
    buckets = reports.period_buckets(kst("2026-11-02", "00:00"), kst("2026-12-01", "14:00"))
    assert buckets[:2] == [("m|2026-11", 1), ("d|2026-11-01", -1)]
    assert buckets[2:] == [(f"h|2026-11-30T{h:02d}", 1) for h in range(15, 24)] + [
        (f"h|2026-12-01T{h:02d}", 1) for h in range(0, 5)
    ]
    most = await reports.summary(
        db, kst("2026-11-02", "00:00"), kst("2026-12-01", "14:00"), with_agents=True
    )
    # c2 (27 Nov) c1 (30 Nov 23:50) c6 (1 Dec 09:00) c7 (11:00); answers: c2, c1 (00:10)
    assert most["created"] == 4 and most["first_response"]["count"] == 2
    assert most["resolved"] == 2  # c1 at 10:00, c7 at 11:00 (c6 reopened)
    assert {a["agent"] for a in most["by_agent"]} == {"minji", "junho"}


async def test_timeseries_by_day_and_by_hour(db: Any) -> None:
    await apply_history(db)
    days = await reports.timeseries(
        db, kst("2026-11-27", "00:00"), kst("2026-12-03", "00:00"), "day", "category", "created"
    )
    assert [b["start"][:10] for b in days["buckets"]] == [
        "2026-11-27",
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
    ]
    assert [b["counts"] for b in days["buckets"]] == [
        {"refund_return_exchange": 1},
        {},
        {},
        {"shipping": 1},
        {"defect_missing_wrong": 1, "product": 1, "shipping": 4},
        {"shipping": 1},
    ]
    hours = await reports.timeseries(
        db, kst("2026-12-01", "13:00"), kst("2026-12-01", "17:00"), "hour", "channel", "created"
    )
    assert [(b["start"][11:16], b["counts"]) for b in hours["buckets"]] == [
        ("13:00", {}),
        ("14:00", {"kakao": 1}),
        ("15:00", {"kakao": 1}),
        ("16:00", {"mail": 1}),
    ]
    sla = await reports.timeseries(
        db, kst("2026-11-30", "00:00"), kst("2026-12-02", "00:00"), "day", "all", "within_sla"
    )
    assert [b["counts"] for b in sla["buckets"]] == [{"all": 1.0}, {"all": 0.5}]
    frt = await reports.timeseries(
        db,
        kst("2026-11-30", "00:00"),
        kst("2026-12-02", "00:00"),
        "day",
        "all",
        "first_response_median_s",
    )
    medians = [b["counts"]["all"] for b in frt["buckets"]]
    assert close_to(medians[0], 63 * 3600 + 40 * 60) and close_to(medians[1], 300)


def _normalised(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Counter documents without the zeros that $inc leaves behind."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: clean(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v not in (0, {}, None)}
        return value

    return {d["_id"]: clean(d) for d in docs}


async def test_rebuild_from_stored_conversations_gives_the_same_numbers(db: Any) -> None:
    await apply_history(db)
    # c1's first answer predates `first_response_by`: the rebuild finds it in the messages
    await db[CONVERSATIONS].update_one({"_id": "c1"}, {"$unset": {"sla.first_response_by": ""}})
    await db[MESSAGES].insert_many(
        [
            {"_id": "n1", "conversation_id": "c1", "direction": "out", "kind": "note",
             "author": "junho", "created_at": kst("2026-12-01", "00:05")},
            {"_id": "r1", "conversation_id": "c1", "direction": "out", "kind": "message",
             "author": "minji", "created_at": kst("2026-12-01", "00:10")},
        ]
    )  # fmt: skip
    live = _normalised([d async for d in db[REPORT_COUNTERS].find()])
    live_summary = await reports.summary(db, *day("2026-12-01"), with_agents=True)
    await db[REPORT_COUNTERS].delete_many({})
    await rebuild_counters(db)
    rebuilt = _normalised([d async for d in db[REPORT_COUNTERS].find()])
    assert rebuilt == live
    assert await reports.summary(db, *day("2026-12-01"), with_agents=True) == live_summary


def _plan_stages(plan: dict[str, Any]) -> list[str]:
    stages = [plan.get("stage", "")]
    for child in ("inputStage", "inputStages"):
        value = plan.get(child)
        for sub in value if isinstance(value, list) else [value] if value else []:
            stages += _plan_stages(sub)
    return stages


async def test_live_and_spike_queries_read_an_index(db: Any) -> None:
    """The live board and the spike watch run every few seconds: never a collection scan."""
    await db[CONVERSATIONS].create_indexes(INDEXES[CONVERSATIONS])
    now = kst("2026-12-01", "15:00")
    queries = [
        ({"created_at": {"$gt": now - timedelta(minutes=15), "$lte": now}}, [("created_at", 1)]),
        ({"created_at": {"$gte": now - timedelta(hours=1)}}, None),
    ]
    # The live board's "due within the hour", as reports.live asks it.
    queries += [
        (reports.due_within(now), [("sort_due", 1), ("_id", 1)]),
        (reports.due_within(now), None),
    ]
    for query, sort in queries:
        cursor = db[CONVERSATIONS].find(query, sort=sort) if sort else db[CONVERSATIONS].find(query)
        plan = (await cursor.explain())["queryPlanner"]["winningPlan"]
        stages = _plan_stages(plan)
        assert "IXSCAN" in stages and "COLLSCAN" not in stages, (query, stages)


async def test_a_store_from_before_arrivals_per_minute_gets_its_last_hour_counted_once(
    db: Any,
) -> None:
    """Conversations stored by a version that kept no arrivals per minute: at start the
    notifier counts the last hour's, once, so the live board and spike detection see them."""
    now = utcnow()
    recent = [
        conv(f"r{i}", now - timedelta(minutes=5 * i), category="coupon", product="쿠폰팩")
        for i in range(11)
    ]
    older = conv("old", now - timedelta(hours=3), category="coupon")
    merged = conv("m1", now - timedelta(minutes=2), category="coupon", status="merged")
    await db[CONVERSATIONS].insert_many([*recent, older, merged])

    assert (await reports.live(db, now))["arrivals_last_hour"] == 0  # nothing kept yet
    assert await backfill_arrivals(db, now) == 12  # the hour's, the merged one included
    live = await reports.live(db, now)
    assert live["arrivals_last_hour"] == 11  # the merged one does not count
    counts = await SpikeWatch(SimpleNamespace(store=SimpleNamespace(db=db)), SpikeRule()).counts(
        now
    )
    assert counts[("category", "coupon")] == 3  # r0, r1, r2: the 15-minute window
    assert counts[("product", "쿠폰팩")] == 3

    assert await backfill_arrivals(db, now) == 0  # once: a restart counts nothing again
    assert (await reports.live(db, now))["arrivals_last_hour"] == 11
