"""Spike detection replayed over a generated week of a Korean shop's traffic: the daily curve
(quiet nights, a morning and an evening peak, calmer weekends), the usual mix of questions,
products with a long tail. The baseline comes from the report counters of the two weeks
before, as in the notifier. The defaults never fire on the normal week; a coupon that does not
apply (45 questions in 12 minutes on Wednesday evening) fires exactly once, for that category.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from inbox_notifier.report_counters import accumulate, arrival, arrival_ops
from inbox_notifier.spikes import (
    GateState,
    SpikeRule,
    baseline_hours,
    detect,
    gate,
    is_spike,
    poisson_tail,
    usual,
    window_counts,
    window_minutes,
)

KST = ZoneInfo("Asia/Seoul")
# Weekday arrivals per hour of the day (Seoul), all kinds of questions together.
HOURLY = [3, 2, 1, 1, 1, 1, 2, 4, 8, 14, 18, 17, 15, 16, 15, 14, 13, 12, 12, 15, 20, 22, 18, 8]
WEEKEND = 0.7
MIX = {
    "shipping": 0.33,
    "refund_return_exchange": 0.18,
    "product": 0.14,
    "restock": 0.10,
    "defect_missing_wrong": 0.08,
    "identity": 0.04,
    "app": 0.04,
    "general": 0.07,
    "coupon": 0.02,
}
WITH_PRODUCT = {"product", "restock", "defect_missing_wrong", "refund_return_exchange"}
PRODUCTS = [f"상품-{i:02d}" for i in range(1, 31)]
ZIPF = [1 / (i + 1) for i in range(len(PRODUCTS))]
REPLAY_START = datetime(2026, 11, 16, tzinfo=KST)  # a Monday; history is the 14 days before
BURST_AT = datetime(2026, 11, 18, 20, 5, tzinfo=KST)  # Wednesday evening


def poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def traffic(rng: random.Random, start: datetime, days: int, prefix: str) -> list[dict[str, Any]]:
    convs = []
    categories, weights = zip(*MIX.items(), strict=True)
    for day in range(days):
        date = start + timedelta(days=day)
        factor = WEEKEND if date.weekday() >= 5 else 1.0
        for hour, rate in enumerate(HOURLY):
            for _ in range(poisson(rng, rate * factor)):
                at = date + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                category = rng.choices(categories, weights)[0]
                product = rng.choices(PRODUCTS, ZIPF)[0] if category in WITH_PRODUCT else None
                convs.append(conversation(f"{prefix}{len(convs)}", at, category, product))
    return convs


def conversation(cid: str, at: datetime, category: str, product: str | None) -> dict[str, Any]:
    return {
        "_id": cid,
        "status": "open",
        "created_at": at,
        "category": category,
        "product": product,
        "channel": "kakao",
        "account": "shop",
        "team": "general",
        "sla": {},
    }


def coupon_burst() -> list[dict[str, Any]]:
    return [
        conversation(f"burst{i}", BURST_AT + timedelta(seconds=16 * i), "coupon", None)
        for i in range(45)
    ]


def minute_docs(convs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The arrivals per minute the notifier keeps for these conversations."""
    docs: dict[str, dict[str, Any]] = {}
    for conv in convs:
        for minute, fields in arrival(conv).items():
            created = docs.setdefault(minute, {"_id": minute, "created": {}})["created"]
            for path, n in fields.items():
                key = path.removeprefix("created.")
                created[key] = created.get(key, 0) + n
    return docs


def replay(
    week: list[dict[str, Any]], counters: dict[str, dict[str, Any]], rule: SpikeRule
) -> list:
    """Run the detector every minute over the week, as the notifier's timer would, on the
    arrivals per minute of the week."""
    minutes = minute_docs(week)
    states: dict[tuple[str, str], GateState] = {}
    fired = []
    now = REPLAY_START
    while now < REPLAY_START + timedelta(days=7):
        window = [minutes[m] for m in window_minutes(now, rule) if m in minutes]
        hours = [counters[h] for h in baseline_hours(now, rule) if h in counters]
        candidates = {
            (c.dimension, c.key): c for c in detect(window_counts(window), usual(hours, rule), rule)
        }
        fire, calm = gate(states, candidates, now, rule)
        for key in calm:
            states[key].active = False
        for key in fire:
            states[key] = GateState(now, True)
            fired.append((now, candidates[key]))
        now += timedelta(minutes=1)
    return fired


@pytest.mark.parametrize("seed", [7, 21, 1234], ids=["seed-7", "seed-21", "seed-1234"])
def test_normal_week_never_fires_and_a_coupon_burst_fires_once(seed: int) -> None:
    rng = random.Random(seed)
    history = traffic(rng, REPLAY_START - timedelta(days=14), 14, "h")
    counters = {k: v for k, v in accumulate(history).items() if k.startswith("h|")}
    week = traffic(rng, REPLAY_START, 7, "w")
    rule = SpikeRule()  # the defaults: 15 minutes, 3x the usual, at least 10
    assert len(week) > 1000

    assert replay(week, counters, rule) == []

    fired = replay(week + coupon_burst(), counters, rule)
    assert len(fired) == 1
    at, spike = fired[0]
    assert (spike.dimension, spike.key) == ("category", "coupon")
    assert BURST_AT <= at <= BURST_AT + timedelta(minutes=12)
    assert spike.count >= 10 and spike.count > 3 * spike.baseline


@pytest.mark.parametrize(
    ("count", "baseline", "fires"),
    [(9, 0.0, False), (10, 0.0, True), (12, 3.5, False), (20, 3.5, True), (30, 12.0, False)],
    ids=["below-floor", "floor-in-a-quiet-shop", "busy-hour-noise", "burst", "under-factor"],
)
def test_threshold(count: int, baseline: float, fires: bool) -> None:
    assert is_spike(count, baseline, SpikeRule()) is fires


def test_poisson_tail_matches_known_values() -> None:
    assert poisson_tail(0, 3.0) == 1.0
    assert abs(poisson_tail(1, 2.0) - (1 - math.exp(-2))) < 1e-12
    assert poisson_tail(5, 0.0) == 0.0


def test_a_product_spikes_on_its_own() -> None:
    start = datetime(2026, 11, 18, 20, 0, tzinfo=KST)
    convs = [
        conversation(f"p{i}", start + timedelta(seconds=30 * i), "restock", "울 블렌드 코트")
        for i in range(12)
    ] + [
        conversation(f"s{i}", start + timedelta(seconds=7 * i), "shipping", None) for i in range(4)
    ]
    now = start + timedelta(minutes=6)
    minutes = minute_docs(convs)
    window = [minutes[m] for m in window_minutes(now, SpikeRule()) if m in minutes]
    usual_counts = {("category", "restock"): 0.5, ("category", "shipping"): 3.0}
    found = detect(window_counts(window), usual_counts, SpikeRule())
    assert [(c.dimension, c.key, c.count) for c in found] == [
        ("category", "restock", 12),
        ("product", "울 블렌드 코트", 12),
    ]


def test_the_window_is_whole_minutes_up_to_now() -> None:
    now = datetime(2026, 11, 18, 20, 14, 30, tzinfo=KST)
    minutes = window_minutes(now, SpikeRule(window_s=900))
    assert len(minutes) == 15
    assert minutes[0] == "2026-11-18T11:14" and minutes[-1] == "2026-11-18T11:00"  # UTC


def test_a_merged_conversation_takes_its_arrival_back() -> None:
    """The arrivals move with the conversation's state, as the report counters do: merged
    away, it no longer counts; a category correction moves it."""
    at = datetime(2026, 11, 18, 20, 3, 10, tzinfo=KST)
    conv = conversation("c1", at, "coupon", "쿠폰팩")

    def incs(before: Any, after: Any) -> dict[str, dict[str, int]]:
        return {op._filter["_id"]: op._doc["$inc"] for op in arrival_ops([(before, after)])}

    assert incs(None, conv) == {
        "2026-11-18T11:03": {"created.category:coupon": 1, "created.product:쿠폰팩": 1}
    }
    assert incs(conv, {**conv, "status": "merged"}) == {
        "2026-11-18T11:03": {"created.category:coupon": -1, "created.product:쿠폰팩": -1}
    }
    assert incs(conv, {**conv, "category": "shipping"}) == {
        "2026-11-18T11:03": {"created.category:coupon": -1, "created.category:shipping": 1}
    }
    assert incs(conv, {**conv, "status": "resolved"}) == {}  # nothing else moves it
