"""A page of the queue read from an index, on the embedded store and on `mongod` alike.

The queue is ordered by `(sort_due, _id)`. The embedded store plans an indexed range but
materialises every document in it before applying a limit, and it reads the whole collection
for `$or` or for a sort it cannot walk. So a page is read as a few **bounded range scans**
along that order, each a shape both servers answer from an index:

- due windows `{prefix, sort_due: {$gt|$gte: lo, $lt: hi}}` on a grid around now, narrow
  where deadlines crowd (just overdue, due soon) and wider away from now (x4 per step), read
  in order until the page is full;
- ties on one due value (every conversation without a running deadline has `NO_DUE`) are
  walked in `_id` windows `{prefix, sort_due: d, _id: {$gt|$gte: a, $lt: b}}`, widening over
  the 128-bit space of our hex ids (any other id still lands in exactly one window).

The grid of a first page is anchored at the queue's head as this process last saw it (the
earliest due of that prefix): one window below it (normally empty: only what became due
earlier since), then windows growing from it, so a page reads about its own documents rather
than a whole grid cell of overdue ones. A later page's grid is anchored at the key it starts
after. Without a remembered head (the first page after a start) the grid is around now. Any
anchor gives the same page: the windows always cover the whole order, only their cost moves.

`prefix` is one filter value (`team: "shipping"`) served by a compound index
`(field, sort_due, _id)`; a filter with several values is one scan per value, merged, and a
page with no indexed filter one scan per status (no index of the order alone). The other
filters (and `tag`, `q`) are checked here on the few documents a window returns, since the
store would drop back to reading the whole collection for a filter its index does not cover.
A page thus costs a few queries over the documents of the windows it touches, which grows
with how many conversations are due near its position, not with the size of the collection.
"""

from __future__ import annotations

import contextlib
import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.errors import OperationFailure

from inbox_core.schema import ConversationStatus, utcnow
from inbox_core.sla import NO_DUE

SORT: Final = [("sort_due", ASCENDING), ("_id", ASCENDING)]
# Filters that can lead an index, most selective first: the scan is driven by one of them.
# Each index costs every write of a conversation, but a filter checked on the windows'
# documents instead reads windows until a page of matches is found: `account` or
# `priority` for a value 2% of the conversations hold took 1-2.4 s at 100,000 (26 ms led
# by its index; bench/queue_page.py).
INDEXED_FILTERS: Final = ("assignee", "team", "channel", "account", "priority", "status")
# Due windows are a grid around now, fine where deadlines crowd (just overdue, due soon) and
# coarse far away: now ± 15 min, 1 h, 4 h, ... up to ± 15 min x 4^8 (about 680 days).
GRID_STEP: Final = timedelta(minutes=15)
GRID_CELLS: Final = 8
GROWTH: Final = 4
ID_SPACE: Final = 1 << 128  # our ids are uuid hex
FIRST_ID_SPAN: Final = ID_SPACE >> 12  # about 25 of 100,000 random ids
_HEX_ID = re.compile(r"[0-9a-f]{32}")
# The earliest due seen per index prefix on a first page: where the next first page starts.
HEADS_KEPT: Final = 1024
_heads: dict[tuple[tuple[str, Any], ...], datetime] = {}
# Views nearly every agent opens first, whose heads a process finds at start (`warm_heads`):
# the whole queue (one scan per status) and the unassigned conversations.
START_VIEWS: Final[tuple[dict[str, list[str | None]], ...]] = ({}, {"assignee": [None]})

PAGE_INDEXES: Final = [IndexModel([(name, ASCENDING), *SORT]) for name in INDEXED_FILTERS]
# A page with no indexed filter is one scan per status (every conversation has one), merged:
# the open ones first, which nearly always fill a first page, so the others stop early.
ALL_STATUSES: Final = [{"status": status.value} for status in ConversationStatus]
# Earlier key patterns no query uses any more (each one costs every write: the embedded
# store rewrites every index entry of a conversation on each update): the page's first
# version, the unfiltered page's (sort_due, _id) (it scans by status), tags (a page checks
# the tag on the window's documents), the live board's (status, sla_deadline) and the
# breach timer's (status, sla.breached, sla_deadline): the board reads the page's
# (status, sort_due, _id), the breach timer shares the warning's.
OBSOLETE_INDEXES: Final = (
    "sort_due_1__id_1",
    *(f"{name}_1_sort_due_1" for name in INDEXED_FILTERS),
    "tags_1",
    "status_1_sla_deadline_1",
    "status_1_sla.breached_1_sla_deadline_1",
)

Key = tuple[datetime, str]


async def drop_obsolete_indexes(
    collection: Any, obsolete: Sequence[str] = OBSOLETE_INDEXES
) -> None:
    """Drop index patterns an earlier version created (written for nothing): by default the
    conversations' ones listed above."""
    names = {ix["name"] async for ix in await collection.list_indexes()}
    for name in sorted(names & set(obsolete)):
        with contextlib.suppress(OperationFailure):  # another replica dropped it first
            await collection.drop_index(name)


async def warm_heads(collection: Finder, views: Sequence[dict[str, list[str | None]]]) -> None:
    """Read each view's first page once, so that the first agent's first page after a start
    starts from the queue's head as it is: without one, a first page scans a grid around now
    and reads every overdue conversation of a cell (100 ms at 100,000, not 25). An empty
    queue has no head to find."""
    if not await collection.find({}, {"_id": 1}, limit=1).to_list():
        return
    for values in views:
        await QueuePage(collection, PageFilter(values)).read(None, 50)


class Finder(Protocol):
    """The part of a collection a page reads through (a recording wrapper in tests)."""

    def find(self, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class PageFilter:
    """What the agent asked for: allowed values per field, a tag, a search text."""

    values: dict[str, list[str | None]] = field(default_factory=dict)
    tag: str | None = None
    q: str | None = None

    def driver(self) -> str | None:
        """The filter that leads the index: single-valued first, then the fewest values."""
        present = [name for name in INDEXED_FILTERS if self.values.get(name)]
        if not present:
            return None
        return min(present, key=lambda name: (len(self.values[name]) > 1, len(self.values[name])))

    def residual(self, driver: str | None) -> _Residual | None:
        checks = {k: v for k, v in self.values.items() if v and k != driver}
        if not checks and not self.tag and not self.q:
            return None
        pattern = re.compile(re.escape(self.q), re.IGNORECASE) if self.q else None
        return _Residual(checks, self.tag, pattern)


@dataclass(frozen=True)
class _Residual:
    """The filters not in the index prefix, as the store would match them."""

    values: dict[str, list[str | None]]
    tag: str | None
    pattern: re.Pattern[str] | None

    def __call__(self, doc: dict[str, Any]) -> bool:
        for name, allowed in self.values.items():
            if doc.get(name) not in allowed:  # a missing field is None, as `null` matches
                return False
        if self.tag is not None:
            tags = doc.get("tags")
            if not (tags == self.tag or (isinstance(tags, list) and self.tag in tags)):
                return False
        if self.pattern is not None:
            texts = doc.get("search") or []
            texts = [texts] if isinstance(texts, str) else texts
            if not any(isinstance(t, str) and self.pattern.search(t) for t in texts):
                return False
        return True


def due_grid(now: datetime) -> list[datetime]:
    """Upper bounds of the due windows, in order; the last one is NO_DUE (exclusive)."""
    steps = [GRID_STEP * GROWTH**k for k in range(GRID_CELLS + 1)]
    return [*(now - s for s in reversed(steps)), now, *(now + s for s in steps), NO_DUE]


def anchored_grid(anchor: datetime) -> list[datetime]:
    """Upper bounds of windows growing from `anchor` (x4 each); the last one is NO_DUE."""
    steps = [GRID_STEP * GROWTH**k for k in range(2 * GRID_CELLS + 2)]
    room = NO_DUE - anchor  # an anchor near NO_DUE must not step past the calendar
    return [*(anchor + s for s in steps if s < room), NO_DUE]


def _remember_head(key: tuple[tuple[str, Any], ...], head: datetime) -> None:
    if len(_heads) >= HEADS_KEPT and key not in _heads:
        _heads.clear()
    _heads[key] = head


def sort_key(doc: dict[str, Any]) -> Key:
    return doc["sort_due"], doc["_id"]


def _id_after(lo: str | None, span: int) -> str | None:
    """The upper bound of an `_id` window starting at `lo`; None: unbounded."""
    if lo is None:
        return format(span, "032x")
    if not _HEX_ID.fullmatch(lo):
        return None
    upper = int(lo, 16) + span
    return format(upper, "032x") if upper < ID_SPACE else None


class QueuePage:
    """Reads one page: `await QueuePage(collection, page_filter).read(after, limit)`."""

    def __init__(self, collection: Finder, page_filter: PageFilter) -> None:
        self.collection = collection
        self.filter = page_filter
        self.driver = page_filter.driver()
        self.residual = page_filter.residual(self.driver)
        # `search` is heavy: read it only to match `q`.
        self.projection = None if page_filter.q else {"search": 0}
        self._first_due: datetime | None = None  # the earliest due a first page's scan read
        self._through: Key | None = None  # the next query drops what sorts up to here

    async def read(self, after: Key | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` conversations after `after`, in queue order."""
        prefixes: Sequence[dict[str, Any]] = ALL_STATUSES
        if self.driver is not None:
            prefixes = [{self.driver: v} for v in self.filter.values[self.driver]]
        scans: list[list[dict[str, Any]]] = []
        until: Key | None = None
        for prefix in prefixes:
            found = await self._scan(prefix, after, limit, until)
            scans.append(found)
            merged = list(heapq.merge(*scans, key=sort_key))[:limit]
            if len(merged) == limit:
                # A full page: the next value's scan need not look past its last entry.
                until = sort_key(merged[-1])
        return list(heapq.merge(*scans, key=sort_key))[:limit]

    async def _scan(
        self, prefix: dict[str, Any], after: Key | None, need: int, until: Key | None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        self._through = None
        if after is not None and after[0] >= NO_DUE:
            await self._walk_ties(prefix, after[0], after[1], out, need)
            return out[:need]  # nothing sorts after the conversations without a deadline
        if after is not None:
            # The first window starts at the previous page's due, its ties included: what
            # sorts up to `after` is dropped here (one query, where walking the ties by _id
            # windows took several for a due that nearly always has none).
            self._through = after
            return await self._scan_grid(
                prefix, anchored_grid(after[0]), after[0], True, need, until, out
            )
        key = tuple(sorted(prefix.items()))
        head = _heads.get(key)
        grid = [head, *anchored_grid(head)] if head is not None else due_grid(utcnow())
        self._first_due = None
        found = await self._scan_grid(prefix, grid, None, False, need, until, out)
        # Nothing read: nothing is due before where the scan stopped (the page's end, or
        # the end of the order), which makes as good an anchor.
        if self._first_due is not None:
            _remember_head(key, self._first_due)
        else:
            _remember_head(key, until[0] if until is not None else NO_DUE)
        return found

    async def _scan_grid(
        self,
        prefix: dict[str, Any],
        grid: list[datetime],
        lo: datetime | None,
        inclusive: bool,
        need: int,
        until: Key | None,
        out: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        for hi in grid:
            if len(out) >= need or (until is not None and lo is not None and lo > until[0]):
                return out[:need]
            if lo is not None and hi <= lo:
                continue  # the page starts further on
            bounds: dict[str, Any] = {"$lt": hi}
            if lo is not None:
                bounds["$gte" if inclusive else "$gt"] = lo
            await self._find({**prefix, "sort_due": bounds}, out, need)
            self._through = None
            lo, inclusive = hi, True
        if len(out) < need and (until is None or until[0] >= NO_DUE):
            await self._walk_ties(prefix, NO_DUE, None, out, need)
        return out[:need]

    async def _walk_ties(
        self,
        prefix: dict[str, Any],
        due: datetime,
        after_id: str | None,
        out: list[dict[str, Any]],
        need: int,
    ) -> None:
        """Conversations due exactly at `due`, in `_id` order after `after_id`."""
        lo, inclusive, span = after_id, False, FIRST_ID_SPAN
        while len(out) < need:
            hi = _id_after(lo, span)
            bounds: dict[str, Any] = {}
            if lo is not None:
                bounds["$gte" if inclusive else "$gt"] = lo
            if hi is not None:
                bounds["$lt"] = hi
            query = {**prefix, "sort_due": due}
            if bounds:
                query["_id"] = bounds
            await self._find(query, out, need)
            if hi is None:
                return
            lo, inclusive, span = hi, True, span * GROWTH

    async def _find(self, query: dict[str, Any], out: list[dict[str, Any]], need: int) -> None:
        # Without residual filters the server may stop at the limit (mongod does).
        limit = 0 if self.residual or self._through else need - len(out)
        docs = await self.collection.find(query, self.projection, sort=SORT, limit=limit).to_list()
        if docs:
            due = docs[0]["sort_due"]
            self._first_due = due if self._first_due is None else min(self._first_due, due)
        if self._through is not None:
            through = self._through
            docs = [d for d in docs if sort_key(d) > through]
        out.extend(d for d in docs if self.residual is None or self.residual(d))


__all__ = [
    "OBSOLETE_INDEXES",
    "PAGE_INDEXES",
    "SORT",
    "START_VIEWS",
    "Key",
    "PageFilter",
    "QueuePage",
    "drop_obsolete_indexes",
    "sort_key",
    "warm_heads",
]
