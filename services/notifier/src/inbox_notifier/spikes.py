"""Spike detection: one kind of question (a category, or a product) suddenly arriving far more
often than usual, e.g. a coupon that does not apply during a promotion.

Every tick the arrivals of the last `INBOX_SPIKE_WINDOW_S` seconds are counted per category
and per product and compared with the usual for that hour: the mean of the same hour on the
previous 14 days, read from the report counters (no scan). A key spikes when its count is
- at least `INBOX_SPIKE_MIN` (the floor, so a quiet shop is not alarmed by three questions),
- more than `INBOX_SPIKE_FACTOR` times the usual, and
- too many to be chance: under Poisson arrivals at the usual rate, a count this high has a
  probability below one in a million (so normal busy hours never fire).
A spike fires a `spike.detected` event once; the key fires again only after its count fell
back below the threshold and at least one window has passed (at most one per key per window,
one per burst). The claim is a conditional write in the store, so replicas fire it once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_core import subjects
from inbox_core.errors import BusUnavailable
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime
from inbox_core.schema import SpikeEvent, utcnow
from inbox_core.store import CONVERSATIONS
from inbox_notifier.report_counters import (
    REPORT_COUNTERS,
    category_of,
    hour_id,
    hour_start,
    split_dim_key,
)

log = get_logger(__name__)

SPIKES: Final = "report_spikes"
DIMENSIONS: Final = ("category", "product")
BASELINE_DAYS: Final = 14
CHANCE: Final = 1e-6  # a count this unlikely under the usual rate is not noise
MAX_EXAMPLES: Final = 5
Key = tuple[str, str]  # (dimension, key)


@dataclass(frozen=True)
class SpikeRule:
    window_s: int = 900
    factor: float = 3.0
    minimum: int = 10


@dataclass(frozen=True)
class Arrival:
    at: datetime
    conversation_id: str
    category: str
    product: str | None = None

    def keys(self) -> list[Key]:
        keys = [("category", self.category)]
        if self.product:
            keys.append(("product", self.product))
        return keys


@dataclass(frozen=True)
class Candidate:
    dimension: str
    key: str
    count: int
    baseline: float
    examples: list[str]


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    # 1 - P(X <= count - 1), summed in log space for stability
    term = math.exp(-mean)
    below = 0.0
    for k in range(count):
        if k:
            term *= mean / k
        below += term
    return max(1.0 - below, 0.0)


def is_spike(count: int, baseline: float, rule: SpikeRule) -> bool:
    return (
        count >= rule.minimum
        and count > rule.factor * baseline
        and poisson_tail(count, baseline) < CHANCE
    )


def baseline_hours(now: datetime, rule: SpikeRule, days: int = BASELINE_DAYS) -> list[str]:
    """The hour buckets of the same time of day on the previous `days` days."""
    middle = now - timedelta(seconds=rule.window_s / 2)
    return [hour_id(hour_start(middle - timedelta(days=d))) for d in range(1, days + 1)]


def usual(
    hour_docs: Iterable[Mapping[str, Any]], rule: SpikeRule, days: int = BASELINE_DAYS
) -> dict[Key, float]:
    """Mean arrivals per window for each key, from hourly counter documents."""
    sums: dict[Key, float] = defaultdict(float)
    for doc in hour_docs:
        for field, n in (doc.get("created") or {}).items():
            dim, key = split_dim_key(field)
            if dim in DIMENSIONS:
                sums[(dim, key)] += n
    scale = rule.window_s / 3600 / days
    return {k: v * scale for k, v in sums.items()}


def detect(
    arrivals: Sequence[Arrival], baselines: Mapping[Key, float], rule: SpikeRule
) -> list[Candidate]:
    """Keys spiking among arrivals of one window (oldest first)."""
    groups: dict[Key, list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        for key in arrival.keys():
            groups[key].append(arrival)
    found = []
    for (dim, key), items in sorted(groups.items()):
        base = baselines.get((dim, key), 0.0)
        if is_spike(len(items), base, rule):
            latest = [a.conversation_id for a in reversed(items[-MAX_EXAMPLES:])]
            found.append(Candidate(dim, key, len(items), round(base, 2), latest))
    return found


@dataclass
class GateState:
    last_at: datetime | None = None
    active: bool = False


def gate(
    states: Mapping[Key, GateState], spiking: Iterable[Key], now: datetime, rule: SpikeRule
) -> tuple[set[Key], set[Key]]:
    """Which keys fire now, and which calmed down (may fire again later)."""
    spiking = set(spiking)
    fire = set()
    for key in spiking:
        state = states.get(key) or GateState()
        recent = state.last_at is not None and now - state.last_at < timedelta(
            seconds=rule.window_s
        )
        if not state.active and not recent:
            fire.add(key)
    calm = {k for k, s in states.items() if s.active and k not in spiking}
    return fire, calm


def event_for(candidate: Candidate, now: datetime, rule: SpikeRule) -> SpikeEvent:
    return SpikeEvent(
        id=f"spike.detected:{candidate.dimension}:{candidate.key}:{now:%Y%m%dT%H%M%S}",
        dimension=candidate.dimension,  # type: ignore[arg-type]
        key=candidate.key,
        count=candidate.count,
        baseline=candidate.baseline,
        window_s=rule.window_s,
        examples=candidate.examples,
        at=now,
    )


class SpikeWatch:
    """The detector over the store, run on a timer by the notifier."""

    def __init__(self, runtime: Runtime, rule: SpikeRule) -> None:
        self.runtime = runtime
        self.rule = rule

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self.runtime.store.db

    async def arrivals(self, now: datetime) -> list[Arrival]:
        since = now - timedelta(seconds=self.rule.window_s)
        cursor = self.db[CONVERSATIONS].find(
            {"created_at": {"$gt": since, "$lte": now}},
            {"category": 1, "product": 1, "created_at": 1, "status": 1},
            sort=[("created_at", 1)],
            limit=20_000,
        )
        return [
            Arrival(d["created_at"], d["_id"], category_of(d), d.get("product"))
            async for d in cursor
            if d.get("status") != "merged"
        ]

    async def baselines(self, now: datetime) -> dict[Key, float]:
        ids = baseline_hours(now, self.rule)
        docs = self.db[REPORT_COUNTERS].find({"_id": {"$in": ids}}, {"created": 1})
        return usual([d async for d in docs], self.rule)

    async def tick(self, now: datetime | None = None) -> list[SpikeEvent]:
        now = now or utcnow()
        candidates = detect(await self.arrivals(now), await self.baselines(now), self.rule)
        by_key = {(c.dimension, c.key): c for c in candidates}
        states = {
            (d["dimension"], d["key"]): GateState(d.get("last_at"), bool(d.get("active")))
            async for d in self.db[SPIKES].find({})
        }
        fire, calm = gate(states, by_key, now, self.rule)
        for dim, key in calm:
            await self.db[SPIKES].update_one(
                {"_id": f"{dim}:{key}", "active": True}, {"$set": {"active": False}}
            )
        fired = []
        for dim, key in sorted(fire):
            event = event_for(by_key[(dim, key)], now, self.rule)
            if await self._claim(event, now):
                fired.append(event)
        return fired

    async def _claim(self, event: SpikeEvent, now: datetime) -> bool:
        """Fire once across replicas: the conditional upsert succeeds for one of them."""
        doc_id = f"{event.dimension}:{event.key}"
        quiet_since = now - timedelta(seconds=self.rule.window_s)
        try:
            await self.db[SPIKES].find_one_and_update(
                {
                    "_id": doc_id,
                    "active": {"$ne": True},
                    "last_at": {"$not": {"$gt": quiet_since}},
                },
                {
                    "$set": {
                        "dimension": event.dimension,
                        "key": event.key,
                        "active": True,
                        "last_at": now,
                        "event": event.model_dump(mode="json"),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # another replica fired it, or it is still active
        try:
            await self.runtime.bus.publish_model(subjects.event(event.type), event, msg_id=event.id)
        except BusUnavailable as err:
            log.warning("spike not published; it fires again next tick", error=str(err))
            await self.db[SPIKES].update_one(
                {"_id": doc_id, "last_at": now}, {"$set": {"active": False, "last_at": None}}
            )
            return False
        log.info("spike detected", dimension=event.dimension, key=event.key, count=event.count)
        return True


async def recent_spikes(db: AsyncDatabase[dict[str, Any]], since: datetime) -> list[dict[str, Any]]:
    """Spike events fired since `since`, newest first (for the live board's banner)."""
    cursor = db[SPIKES].find({"last_at": {"$gte": since}}, sort=[("last_at", -1)], limit=20)
    return [d["event"] async for d in cursor if d.get("event")]
