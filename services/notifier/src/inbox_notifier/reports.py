"""Reports read from the counters (report_counters.py), never by scanning conversations: a
period is cut into Seoul months, days and the hours at its ragged ends (see
`period_buckets`), and only those bucket documents are read, whatever the number of
conversations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.store import CONVERSATIONS
from inbox_notifier.report_counters import (
    ALL,
    ARRIVALS,
    REPORT_COUNTERS,
    SEOUL,
    STATE_ID,
    TIMINGS,
    day_id,
    day_range,
    day_start,
    hist_value,
    hour_id,
    hour_start,
    minute_ids,
    month_id,
    month_start,
    next_month,
    split_dim_key,
)
from inbox_notifier.spikes import recent_spikes

META: Final = ("_id", "gran", "start")
Totals = dict[str, dict[str, Any]]  # metric → "dim:key" → count, or histogram {b<n>: count}


def floor_hour(at: datetime) -> datetime:
    return hour_start(at)


def ceil_hour(at: datetime) -> datetime:
    start = hour_start(at)
    return start if start == at else start + timedelta(hours=1)


def _days_of(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(days=n) for n in range(round((end - start) / timedelta(days=1)))]


def period_buckets(start: datetime, end: datetime) -> list[tuple[str, int]]:
    """Bucket ids covering [start, end) (whole hours), each with the sign it is added with.

    Hours at the ragged ends; whole Seoul days in between, gathered by month: a month covered
    entirely is its month bucket, one covered mostly is its month bucket minus the days not
    covered (counters add up, so they also subtract), one covered a little is its days. The
    last 30 days are then ~7 documents, a year at most ~12 + 30 + 46.
    """
    start, end = floor_hour(start), ceil_hour(end)
    first_day = day_start(start)
    if first_day < start:
        first_day = day_start(first_day + timedelta(hours=30))
    last_day = day_start(end)
    out: list[tuple[str, int]] = []
    if first_day >= last_day:  # no whole day: hours only
        at = start
        while at < end:
            out.append((hour_id(at), 1))
            at += timedelta(hours=1)
        return out
    at = start
    while at < first_day:
        out.append((hour_id(at), 1))
        at += timedelta(hours=1)
    month = month_start(first_day)
    while month < last_day:
        following = next_month(month)
        covered = _days_of(max(month, first_day), min(following, last_day))
        whole = _days_of(month, following)
        if len(covered) == len(whole):
            out.append((month_id(month), 1))
        elif len(covered) * 2 > len(whole):
            out.append((month_id(month), 1))
            out.extend((day_id(d), -1) for d in whole if d not in covered)
        else:
            out.extend((day_id(d), 1) for d in covered)
        month = following
    at = last_day
    while at < end:
        out.append((hour_id(at), 1))
        at += timedelta(hours=1)
    return out


async def read_buckets(
    db: AsyncDatabase[dict[str, Any]], ids: list[str], fields: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    if not ids:
        return []
    projection = {f: 1 for f in fields} if fields else None
    return [d async for d in db[REPORT_COUNTERS].find({"_id": {"$in": ids}}, projection)]


def merge(docs: Iterable[Mapping[str, Any]], signs: Mapping[str, int] | None = None) -> Totals:
    """Sum bucket documents (`signs`: -1 for a bucket to take away)."""
    totals: Totals = {}
    for doc in docs:
        sign = signs.get(doc["_id"], 1) if signs else 1
        for metric, per_key in doc.items():
            if metric in META or not isinstance(per_key, dict):
                continue
            out = totals.setdefault(metric, {})
            for key, value in per_key.items():
                if isinstance(value, dict):
                    hist = out.setdefault(key, {})
                    for b, n in value.items():
                        hist[b] = hist.get(b, 0) + sign * n
                else:
                    out[key] = out.get(key, 0) + sign * value
    return totals


def percentile(hist: Mapping[str, int] | None, q: float) -> float | None:
    """Nearest-rank percentile of a histogram of seconds (within ~5%)."""
    items = sorted((int(b[1:]), n) for b, n in (hist or {}).items() if n > 0)
    total = sum(n for _, n in items)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket, n in items:
        seen += n
        if seen >= rank:
            return round(hist_value(bucket), 1)
    return None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def key_figures(totals: Totals, key: str) -> dict[str, Any]:
    def n(metric: str) -> int:
        return int(totals.get(metric, {}).get(key, 0))

    fr = n("fr")
    return {
        "created": n("created"),
        "resolved": n("res"),
        "first_responses": fr,
        "first_response_median_s": percentile(totals.get("fr_h", {}).get(key), 0.5),
        "within_sla": _share(n("fr_met"), fr),
        "bot_answered": n("bot"),
    }


def by_dimension(totals: Totals, dim: str) -> dict[str, dict[str, Any]]:
    keys = {
        k for metric in totals.values() for k in metric if k != ALL and split_dim_key(k)[0] == dim
    }
    return {
        split_dim_key(k)[1]: key_figures(totals, k)
        for k in sorted(keys, key=lambda k: (-int(totals.get("created", {}).get(k, 0)), k))
    }


async def backlog(db: AsyncDatabase[dict[str, Any]]) -> dict[str, Any]:
    state = await db[REPORT_COUNTERS].find_one({"_id": STATE_ID}) or {}

    def get(metric: str, key: str = ALL) -> int:
        return max(int((state.get(metric) or {}).get(key, 0)), 0)

    teams = {
        split_dim_key(k)[1]
        for metric in ("open", "pending", "breached")
        for k in (state.get(metric) or {})
        if k.startswith("team:")
    }
    by_team = {
        team: {
            "open": get("open", f"team:{team}"),
            "pending": get("pending", f"team:{team}"),
            "breached": get("breached", f"team:{team}"),
        }
        for team in sorted(teams)
    }
    by_team = {t: v for t, v in by_team.items() if any(v.values())}
    return {
        "open": get("open"),
        "pending": get("pending"),
        "breached": get("breached"),
        "by_team": by_team,
    }


def iso_local(at: datetime) -> str:
    return at.astimezone(SEOUL).isoformat()


async def summary(
    db: AsyncDatabase[dict[str, Any]], start: datetime, end: datetime, *, with_agents: bool
) -> dict[str, Any]:
    start, end = floor_hour(start), ceil_hour(end)
    buckets = dict(period_buckets(start, end))
    buckets.update({bucket + TIMINGS: sign for bucket, sign in list(buckets.items())})
    totals = merge(await read_buckets(db, list(buckets)), buckets)
    figures = key_figures(totals, ALL)
    created = figures["created"]
    agents = None
    if with_agents:
        agents = [{"agent": name, **v} for name, v in by_dimension(totals, "agent").items()]
        for row in agents:
            del row["created"], row["bot_answered"]
    return {
        "from": iso_local(start),
        "to": iso_local(end),
        "created": created,
        "resolved": figures["resolved"],
        "first_response": {
            "count": figures["first_responses"],
            "median_s": figures["first_response_median_s"],
            "p90_s": percentile(totals.get("fr_h", {}).get(ALL), 0.9),
            "within_sla": figures["within_sla"],
            "breached": int(totals.get("fr_breached", {}).get(ALL, 0)),
        },
        "resolution": {
            "median_s": percentile(totals.get("res_h", {}).get(ALL), 0.5),
            "p90_s": percentile(totals.get("res_h", {}).get(ALL), 0.9),
        },
        "bot_answered": {
            "count": figures["bot_answered"],
            "share": _share(figures["bot_answered"], created),
        },
        "by_category": by_dimension(totals, "category"),
        "by_channel": by_dimension(totals, "channel"),
        "by_team": by_dimension(totals, "team"),
        "by_product": dict(list(by_dimension(totals, "product").items())[:20]),
        "by_agent": agents,
        "backlog": await backlog(db),
    }


METRIC_FIELDS: Final = {  # what each time-series metric reads from a bucket
    "created": ("created",),
    "resolved": ("res",),
    "first_responses": ("fr",),
    "first_response_median_s": ("fr_h",),
    "within_sla": ("fr", "fr_met"),
}


def _metric(totals: Totals, key: str, metric: str) -> float | int | None:
    figures = key_figures(totals, key)
    return figures[metric]


async def timeseries(
    db: AsyncDatabase[dict[str, Any]],
    start: datetime,
    end: datetime,
    interval: str,
    by: str,
    metric: str,
) -> dict[str, Any]:
    start, end = floor_hour(start), ceil_hour(end)
    if interval == "day":
        starts = day_range(day_start(start), end)
        ids = [day_id(s) for s in starts]
    else:
        starts = []
        at = start
        while at < end:
            starts.append(at)
            at += timedelta(hours=1)
        ids = [hour_id(s) for s in starts]
    suffix = TIMINGS if metric == "first_response_median_s" else ""
    found = await read_buckets(db, [i + suffix for i in ids], METRIC_FIELDS[metric])
    docs = {d["_id"].removesuffix(TIMINGS): d for d in found}
    buckets = []
    for bucket_start, bucket in zip(starts, ids, strict=True):
        totals = merge([docs[bucket]] if bucket in docs else [])
        if by == ALL:
            counts = {ALL: _metric(totals, ALL, metric)}
        else:
            keys = {k for m in totals.values() for k in m if split_dim_key(k)[0] == by}
            counts = {split_dim_key(k)[1]: _metric(totals, k, metric) for k in sorted(keys)}
            counts = {k: v for k, v in counts.items() if v not in (None, 0)}
        buckets.append({"start": iso_local(bucket_start), "counts": counts})
    return {"interval": interval, "by": by, "metric": metric, "buckets": buckets}


async def arrivals_last_hour(db: AsyncDatabase[dict[str, Any]], now: datetime) -> int:
    """Conversations created in this minute and the 59 before, from the arrivals per minute
    (every conversation counts once under its category): counting the hour's conversations
    read each of them, 200,000 in a busy promotion hour."""
    total = 0
    async for doc in db[ARRIVALS].find({"_id": {"$in": minute_ids(now, 60)}}, {"created": 1}):
        counts = doc.get("created") or {}
        total += sum(n for f, n in counts.items() if split_dim_key(f)[0] == "category")
    return total


USUAL_DAYS: Final = 14


async def usual_for_hour(db: Any, now: datetime) -> float:
    """Mean arrivals in the hour around `now - 30 min` on the previous 14 days."""
    middle = now - timedelta(minutes=30)
    ids = [hour_id(hour_start(middle - timedelta(days=d))) for d in range(1, USUAL_DAYS + 1)]
    docs = db[REPORT_COUNTERS].find({"_id": {"$in": ids}}, {"created": 1})
    total = sum([int((d.get("created") or {}).get(ALL, 0)) async for d in docs])
    return round(total / USUAL_DAYS, 2)


def due_within(now: datetime) -> dict[str, Any]:
    """Open conversations whose running deadline falls in the next hour: a range of the
    page's index (status, sort_due, _id) (an open conversation's `sort_due` is its running
    deadline, `NO_DUE` without one)."""
    return {"status": "open", "sort_due": {"$gte": now, "$lt": now + timedelta(hours=1)}}


async def live(db: AsyncDatabase[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The live board: now, whatever the period."""
    state = await backlog(db)
    due = due_within(now)
    soonest = [
        d
        async for d in db[CONVERSATIONS].find(
            due,
            {"number": 1, "subject": 1, "team": 1, "category": 1, "sla_deadline": 1},
            sort=[("sort_due", 1), ("_id", 1)],
            limit=10,
        )
    ]
    due_soon = [
        {
            "id": d["_id"],
            "number": d.get("number"),
            "subject": d.get("subject"),
            "team": d.get("team"),
            "category": d.get("category") or "general",
            "due": d["sla_deadline"].astimezone(SEOUL).isoformat(),
        }
        for d in soonest[:10]
    ]
    today_doc = await db[REPORT_COUNTERS].find_one({"_id": day_id(day_start(now))}) or {}

    def today(metric: str) -> int:
        return int((today_doc.get(metric) or {}).get(ALL, 0))

    created, responded = today("created"), today("responded")
    return {
        "now": now.astimezone(SEOUL).isoformat(),
        "open": state["open"],
        "pending": state["pending"],
        "breached": state["breached"],
        "by_team": state["by_team"],
        "due_within_hour": await db[CONVERSATIONS].count_documents(due),
        "due_soon": due_soon,
        "arrivals_last_hour": await arrivals_last_hour(db, now),
        "usual_last_hour": await usual_for_hour(db, now),
        "today": {
            "created": created,
            "responded": responded,
            "response_rate": round(responded / created, 4) if created else None,
            "bot_answered": today("bot"),
            "resolved": today("res"),
        },
        "spikes": await recent_spikes(db, now - timedelta(hours=1)),
    }
