"""Report counters: what one conversation contributes to the hourly and daily report buckets,
and the `$inc` operations that move the counters from one state of a conversation to the next.

Every counter is a pure function of the conversation's stored state (`contribution`), so:
- a change is counted as `contribution(after) - contribution(before)` of the write that was
  actually made: a redelivered message changes nothing, so it counts nothing (no double
  counting), and a reopen, a team change or a category correction moves its numbers;
- `inbox-reports rebuild` sums `contribution` over the stored conversations and gets the
  same numbers the live updates produced.

Buckets are one document per UTC hour (`h|2026-12-03T05`), per Asia/Seoul day
(`d|2026-12-03`) and per Seoul month (`m|2026-12`), plus one document of current state
(`state`: open, pending, breached).
Inside a bucket, `<metric>.<dim>:<key>` counts (`created.category:shipping`, `fr.all`) and
`<metric>_h.<dim>:<key>.b<n>` histograms of seconds (for medians, in a twin document
`<bucket>#t`), so one conversation change is a few upserts and a month of reports reads a
few documents.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from pymongo import UpdateOne

REPORT_COUNTERS: Final = "report_counters"
# Arrivals per UTC minute (`2026-12-03T05:07`), by category and product: what spike detection
# counts over its window (a few small documents, not every conversation of the window). Kept
# live by the notifier for the last day; not part of `contribution` (a rebuild has no use for
# a year of minutes).
ARRIVALS: Final = "report_arrivals"
ARRIVAL_DIMS: Final = ("category", "product")
ARRIVALS_KEPT: Final = timedelta(days=1)
SEOUL: Final = ZoneInfo("Asia/Seoul")
STATE_ID: Final = "state"
# The histograms of a bucket live in a document of their own (`h|2026-12-03T05#t`), so the
# counts that time series, the live board and spikes read stay small.
TIMINGS: Final = "#t"
ALL: Final = "all"
BOT_AUTHORS: Final = frozenset({"bot"})  # answers by the FAQ bot are not an agent's response
HIST_STEP: Final = 1.1  # histogram buckets grow by 10%: medians are within ~5%

# Which dimensions each group of metrics is kept by.
CREATED_DIMS: Final = ("category", "channel", "account", "team", "product")
RESPONSE_DIMS: Final = ("category", "channel", "team", "agent")
RESOLVED_DIMS: Final = ("category", "channel", "team", "agent")
STATE_DIMS: Final = ("category", "channel", "team")

Counts = dict[str, dict[str, int]]  # bucket id → field path → amount


def escape(key: str) -> str:
    """A key as a field name: `.` and a leading `$` would be read as a path or an operator."""
    return key.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unescape(key: str) -> str:
    return key.replace("%2E", ".").replace("%24", "$").replace("%25", "%")


def dim_key(dim: str, key: str | None = None) -> str:
    return ALL if dim == ALL else f"{dim}:{escape(str(key))}"


def split_dim_key(field: str) -> tuple[str, str]:
    if field == ALL:
        return ALL, ALL
    dim, _, key = field.partition(":")
    return dim, unescape(key)


def hist_bucket(seconds: float) -> int:
    return 0 if seconds < 1 else 1 + int(math.log(seconds) / math.log(HIST_STEP))


def hist_value(bucket: int) -> float:
    """A bucket's representative seconds (its geometric middle)."""
    return 0.0 if bucket == 0 else HIST_STEP ** (bucket - 0.5)


def _ms(value: Any) -> datetime | None:
    """Aware UTC at the store's millisecond precision, so stored and in-memory states agree."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    """Midnight in Seoul of the day `at` falls on, as aware UTC."""
    local = at.astimezone(SEOUL)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def month_start(at: datetime) -> datetime:
    """The first of the Seoul month `at` falls in, as aware UTC."""
    local = at.astimezone(SEOUL)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def next_month(start: datetime) -> datetime:
    return month_start(month_start(start) + timedelta(days=32))


def minute_id(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def minute_ids(now: datetime, minutes: int) -> list[str]:
    """The ids of the arrivals per minute of `now`'s minute and the `minutes - 1` before."""
    return [minute_id(now - timedelta(minutes=m)) for m in range(minutes)]


def hour_id(start: datetime) -> str:
    return "h|" + start.astimezone(UTC).strftime("%Y-%m-%dT%H")


def day_id(start: datetime) -> str:
    return "d|" + start.astimezone(SEOUL).strftime("%Y-%m-%d")


def month_id(start: datetime) -> str:
    return "m|" + start.astimezone(SEOUL).strftime("%Y-%m")


@lru_cache(maxsize=65536)
def _bucket_ids(epoch_hour: int) -> tuple[str, str, str]:
    at = datetime.fromtimestamp(epoch_hour * 3600, UTC)
    return hour_id(at), day_id(at), month_id(at)


def bucket_ids(at: datetime) -> tuple[str, str, str]:
    """The hour, day and month buckets an instant counts in."""
    return _bucket_ids(int(at.timestamp()) // 3600)


@lru_cache(maxsize=65536)
def bucket_start(bucket_id: str) -> datetime:
    gran, _, rest = bucket_id.removesuffix(TIMINGS).partition("|")
    if gran == "h":
        return datetime.strptime(rest, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    if gran == "m":
        rest += "-01"
    local = datetime.strptime(rest, "%Y-%m-%d").replace(tzinfo=SEOUL)
    return local.astimezone(UTC)


def product_of(context: Mapping[str, Any] | None) -> str | None:
    """The product a question is about, as the marketplaces and shops name it."""
    context = context or {}
    for name in ("product_name", "product_id"):
        value = context.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def category_of(conv: Mapping[str, Any]) -> str:
    return str(conv.get("category") or "general")


def first_agent_response(conv: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """When and by whom the conversation was first answered by a person (never the bot)."""
    sla = conv.get("sla") or {}
    at = _ms(sla.get("first_response_at"))
    by = sla.get("first_response_by")
    if at is None or by in BOT_AUTHORS:
        return None, None
    return at, by


def _keys(conv: Mapping[str, Any], dims: Iterable[str], agent: str | None) -> list[str]:
    values = {
        "category": category_of(conv),
        "channel": conv.get("channel"),
        "account": conv.get("account"),
        "team": conv.get("team"),
        "product": conv.get("product"),
        "agent": agent,
    }
    return [ALL] + [dim_key(d, values[d]) for d in dims if values.get(d) not in (None, "")]


def _add(out: Counts, at: datetime, fields: Mapping[str, int], keys: list[str]) -> None:
    counts, timings = [], []
    for metric, amount in fields.items():
        base, _, hist = metric.partition("#")
        for key in keys:
            if hist:
                timings.append((f"{base}.{key}.{hist}", amount))
            else:
                counts.append((f"{base}.{key}", amount))
    for bucket in bucket_ids(at):
        for target, paths in ((bucket, counts), (bucket + TIMINGS, timings)):
            if paths:
                doc = out[target]
                for path, amount in paths:
                    doc[path] = doc.get(path, 0) + amount


def contribution(conv: Mapping[str, Any] | None, into: Counts | None = None) -> Counts:
    """Everything one conversation, in this state, adds to the counters (added to `into`
    when given, as `accumulate` does for many)."""
    out: Counts = defaultdict(dict) if into is None else into
    if not conv or conv.get("status") == "merged":
        return out
    created = _ms(conv.get("created_at"))
    if created is None:
        return out
    sla = conv.get("sla") or {}
    responded_at, agent = first_agent_response(conv)
    bot = (sla.get("first_response_by") in BOT_AUTHORS) or "bot_answered" in (
        conv.get("tags") or []
    )
    created_fields = {"created": 1}
    if responded_at is not None:
        created_fields["responded"] = 1
    if bot:
        created_fields["bot"] = 1
    _add(out, created, created_fields, _keys(conv, CREATED_DIMS, None))
    if responded_at is not None:
        seconds = max(round((responded_at - created).total_seconds()), 0)
        due = _ms(sla.get("first_response_due"))
        met = due is None or responded_at <= due
        fields = {
            "fr": 1,
            "fr_s": seconds,
            f"fr_h#b{hist_bucket(seconds)}": 1,
            "fr_met" if met else "fr_breached": 1,
        }
        _add(out, responded_at, fields, _keys(conv, RESPONSE_DIMS, agent))
    resolved = _ms(conv.get("resolved_at"))
    if conv.get("status") == "resolved" and resolved is not None:
        seconds = max(round((resolved - created).total_seconds()), 0)
        fields = {"res": 1, "res_s": seconds, f"res_h#b{hist_bucket(seconds)}": 1}
        _add(out, resolved, fields, _keys(conv, RESOLVED_DIMS, conv.get("resolved_by")))
    status = conv.get("status")
    if status in ("open", "pending"):
        state: dict[str, int] = {status: 1}
        if status == "open" and sla.get("breached"):
            state["breached"] = 1
        doc = out[STATE_ID]
        for key in _keys(conv, STATE_DIMS, None):
            for metric, amount in state.items():
                path = f"{metric}.{key}"
                doc[path] = doc.get(path, 0) + amount
    return out


def arrival(conv: Mapping[str, Any] | None) -> Counts:
    """What one conversation, in this state, adds to the arrivals per minute: its category
    and product in the minute it was created (nothing once merged away)."""
    if not conv or conv.get("status") == "merged":
        return {}
    created = _ms(conv.get("created_at"))
    if created is None:
        return {}
    keys = [k for k in _keys(conv, ARRIVAL_DIMS, None) if k != ALL]
    return {minute_id(created): {f"created.{k}": 1 for k in keys}}


def diff(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    counts_of: Callable[[Mapping[str, Any] | None], Counts] = contribution,
) -> Counts:
    """What a change from `before` to `after` adds (and takes away); zeros left out."""
    old, new = counts_of(before), counts_of(after)
    out: Counts = {}
    for bucket in old.keys() | new.keys():
        a, b = old.get(bucket, {}), new.get(bucket, {})
        delta = {f: b.get(f, 0) - a.get(f, 0) for f in a.keys() | b.keys()}
        delta = {f: v for f, v in delta.items() if v}
        if delta:
            out[bucket] = delta
    return out


def bucket_fields(bucket_id: str) -> dict[str, Any]:
    if bucket_id == STATE_ID:
        return {"gran": "state"}
    return {"gran": bucket_id[0], "start": bucket_start(bucket_id)}


def to_ops(counts: Counts) -> list[UpdateOne]:
    """Upserts that `$inc` each bucket; they commute, so any order and batching is right."""
    return [
        UpdateOne(
            {"_id": bucket},
            {"$inc": fields, "$setOnInsert": bucket_fields(bucket)},
            upsert=True,
        )
        for bucket, fields in sorted(counts.items())
    ]


Changes = Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]


def _merged(changes: Changes, counts_of: Callable[[Mapping[str, Any] | None], Counts]) -> Counts:
    merged: Counts = defaultdict(dict)
    for before, after in changes:
        for bucket, fields in diff(before, after, counts_of).items():
            doc = merged[bucket]
            for f, v in fields.items():
                doc[f] = doc.get(f, 0) + v
    return {b: {f: v for f, v in d.items() if v} for b, d in merged.items() if any(d.values())}


def counter_ops(changes: Changes) -> list[UpdateOne]:
    """The counter updates for several conversation changes (before, after), merged per bucket
    so a batch writes each bucket once."""
    return to_ops(_merged(changes, contribution))


def arrival_ops(changes: Changes) -> list[UpdateOne]:
    """The arrivals-per-minute updates for the same changes, merged per minute."""
    return [
        UpdateOne(
            {"_id": minute},
            {"$inc": fields, "$setOnInsert": {"start": datetime.fromisoformat(minute + "+00:00")}},
            upsert=True,
        )
        for minute, fields in sorted(_merged(changes, arrival).items())
    ]


def accumulate(conversations: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Counter documents for a set of conversations, as `rebuild` writes them."""
    totals: Counts = defaultdict(dict)
    for conv in conversations:
        contribution(conv, totals)
    return {bucket: to_document(bucket, fields) for bucket, fields in totals.items()}


def to_document(bucket: str, fields: Mapping[str, int]) -> dict[str, Any]:
    """A flat `{path: n}` as the nested document `$inc` would have made."""
    doc: dict[str, Any] = {"_id": bucket, **bucket_fields(bucket)}
    for path, value in fields.items():
        if not value:
            continue
        node = doc
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc


def day_range(start: datetime, end: datetime) -> list[datetime]:
    """Seoul midnights in [start, end)."""
    days, at = [], day_start(start)
    if at < start:
        at = day_start(at + timedelta(hours=30))
    while at < end:
        days.append(at)
        at = day_start(at + timedelta(hours=30))
    return days
