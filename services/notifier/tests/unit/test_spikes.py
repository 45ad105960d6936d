"""Spike detection replayed over a generated week of a Korean shop's traffic: the daily curve
(quiet nights, a morning and an evening peak, calmer weekends), the usual mix of questions,
products with a long tail. The baseline comes from the report counters of the two weeks
before, as in the notifier. The defaults never fire on the normal week; a coupon that does not
apply (45 questions in 12 minutes on Wednesday evening) fires exactly once, for that category.
"""

from __future__ import annotations

import bisect
import math
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from inbox_notifier.report_counters import accumulate
from inbox_notifier.spikes import (
    Arrival,
    GateState,
    SpikeRule,
    baseline_hours,
    detect,
    gate,
    is_spike,
    poisson_tail,
    usual,
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


def replay(
    week: list[dict[str, Any]], counters: dict[str, dict[str, Any]], rule: SpikeRule
) -> list:
    """Run the detector every minute over the week, as the notifier's timer would."""
    week = sorted(week, key=lambda c: c["created_at"])
    times = [c["created_at"] for c in week]
    arrivals = [Arrival(c["created_at"], c["_id"], c["category"], c["product"]) for c in week]
    states: dict[tuple[str, str], GateState] = {}
    fired = []
    now = REPLAY_START
    while now < REPLAY_START + timedelta(days=7):
        lo = bisect.bisect_right(times, now - timedelta(seconds=rule.window_s))
        hi = bisect.bisect_right(times, now)
        hours = [counters[h] for h in baseline_hours(now, rule) if h in counters]
        candidates = {
            (c.dimension, c.key): c for c in detect(arrivals[lo:hi], usual(hours, rule), rule)
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
    assert len(spike.examples) == 5 and all(e.startswith("burst") for e in spike.examples)


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


def test_a_product_spikes_on_its_own_and_examples_are_the_newest_five() -> None:
    start = datetime(2026, 11, 18, 20, 0, tzinfo=KST)
    arrivals = [
        Arrival(start + timedelta(seconds=30 * i), f"p{i}", "restock", "울 블렌드 코트")
        for i in range(12)
    ] + [Arrival(start + timedelta(seconds=7 * i), f"s{i}", "shipping") for i in range(4)]
    usual_counts = {("category", "restock"): 0.5, ("category", "shipping"): 3.0}
    found = detect(arrivals, usual_counts, SpikeRule())
    assert [(c.dimension, c.key, c.count) for c in found] == [
        ("category", "restock", 12),
        ("product", "울 블렌드 코트", 12),
    ]
    assert found[1].examples == ["p11", "p10", "p9", "p8", "p7"]
