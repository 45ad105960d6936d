"""A poller's cursor over a list API queried by time window, as an object (Airbyte keeps
cursors as objects): the `cursor_type` of a `PollingChannel` whose platform lists items
created between two instants (or calendar days) page by page.

- `since`: the forward edge. Everything created before `since − overlap` has been read.
  Each forward window is `[since − overlap, now]` (late-indexed items are read again),
  cut to the platform's longest span (`WindowPolicy.max_window`): a service that was down
  for weeks catches up window by window. A window is paged to its end before `since` moves.
- `window_from`/`window_to`/`page`: the window being paged, pinned so every page of one
  window asks the same question.
- Revisit pass: every `revisit` the next windows start `watch` ago instead (chunked the same
  way) and walk forward to the edge. That is how changes to older items (edits, answers,
  deletions) are found. A known item that two passes in a row do not list is reported
  gone (one miss may be paging drift).
- `known`: item id → what the channel remembers of it (a `Tracked`), for items made within
  the watch horizon: the dedup memory (overlaps are not published again) and the base for
  finding changes.

Stored as plain JSON (`dump`/`load`); `PollerRunner` saves it only after every PubAck, and
`frontier()` is how far the board is read (the lag in /healthz).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Generic, Self, TypeVar

from inbox_core.logging import get_logger

log = get_logger(__name__)

# Each forward window starts this long before the previous one ended.
OVERLAP: Final = timedelta(minutes=10)
# What is known of items made this long before the watch horizon is dropped.
KNOWN_SLACK: Final = timedelta(days=2)
MAX_KNOWN: Final = 20_000
MISSES_BEFORE_GONE: Final = 2


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    sweep: bool = False  # part of a revisit pass (changes to older items)


@dataclass(frozen=True)
class WindowPolicy:
    max_window: timedelta  # the longest span one list query may ask for
    backfill: timedelta  # how far back a new account reads
    watch: timedelta  # how far back a revisit pass reads
    revisit: timedelta | None  # how often; None = never, 0 = every poll
    overlap: timedelta = OVERLAP

    def sweep_due(self, swept_at: datetime | None, now: datetime) -> bool:
        if self.revisit is None:
            return False
        return swept_at is None or now - swept_at >= self.revisit


@dataclass(frozen=True, kw_only=True)
class Tracked:
    """What the cursor keeps of one listed item; channels subclass it with their own
    fingerprint (and their own `dump`/`load`)."""

    created: int  # unix seconds
    misses: int = 0  # revisit passes in a row that did not list it
    deleted: bool = False

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, UTC)

    def dump(self) -> Any:
        return [self.created, self.misses, int(self.deleted)]

    @classmethod
    def load(cls, raw: Any) -> Self | None:
        try:
            created, misses, deleted = raw
            return cls(created=int(created), misses=int(misses), deleted=bool(deleted))
        except (TypeError, ValueError):
            return None


T = TypeVar("T", bound=Tracked)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"date-time without time zone: {value!r}")
    return parsed


@dataclass
class WindowCursor(Generic[T]):
    since: datetime
    page: int = 1
    window_from: datetime | None = None
    window_to: datetime | None = None
    sweep_from: datetime | None = None  # start of the revisit pass in progress
    sweep_next: datetime | None = None  # where its next window starts
    swept_at: datetime | None = None  # when the last pass began (None: not known yet)
    sweep_seen: list[str] = field(default_factory=list)
    known: dict[str, T] = field(default_factory=dict)

    item_type: ClassVar[type[Tracked]] = Tracked

    # --- store round trip ------------------------------------------------------------

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> Self:
        """The stored state; ValueError when it cannot be read (the poller starts over)."""
        try:
            since = _dt(state["since"])
            if since is None:
                raise ValueError("no forward edge")
            return cls(
                since=since,
                page=max(1, int(state.get("page") or 1)),
                window_from=_dt(state.get("window_from")),
                window_to=_dt(state.get("window_to")),
                sweep_from=_dt(state.get("sweep_from")),
                sweep_next=_dt(state.get("sweep_next")),
                swept_at=_dt(state.get("swept_at")),
                sweep_seen=[str(i) for i in state.get("sweep_seen") or []],
                known=cls.load_known(state),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"unreadable cursor: {err}") from err

    @classmethod
    def load_known(cls, state: Mapping[str, Any]) -> dict[str, T]:
        known: dict[str, T] = {}
        for k, raw in dict(state.get("known") or {}).items():
            item = cls.item_type.load(raw)
            if item is not None:
                known[str(k)] = item  # type: ignore[assignment]  # item_type makes T
        return known

    @classmethod
    def start(cls, cursor: Self | None, now: datetime, policy: WindowPolicy) -> Self:
        """The cursor to poll with: `cursor`, or a new one `backfill` back."""
        if cursor is None:
            return cls(since=now - policy.backfill, swept_at=now)
        if cursor.swept_at is None:
            cursor = replace(cursor, swept_at=now)
        if cursor.window_to is not None and cursor.window_from is None:  # older cursor
            cursor = replace(cursor, window_from=cursor.since - policy.overlap)
        return cursor

    def dump(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "page": self.page,
            "window_from": _iso(self.window_from),
            "window_to": _iso(self.window_to),
            "sweep_from": _iso(self.sweep_from),
            "sweep_next": _iso(self.sweep_next),
            "swept_at": _iso(self.swept_at),
            "sweep_seen": self.sweep_seen,
            "known": {k: v.dump() for k, v in self.known.items()},
        }

    # --- windows ---------------------------------------------------------------------

    @property
    def sweeping(self) -> bool:
        return self.sweep_next is not None

    def window(self) -> Window:
        assert self.window_from is not None and self.window_to is not None, "call begin()"
        return Window(self.window_from, self.window_to, sweep=self.sweeping)

    def begin(self, now: datetime, policy: WindowPolicy) -> Self:
        """This cursor with a window pinned (a no-op while one is being paged)."""
        if self.window_from is not None and self.window_to is not None:
            return self
        nxt = replace(self, sweep_seen=list(self.sweep_seen), known=self.known)
        forward_from = self.since - policy.overlap
        caught_up = forward_from + policy.max_window >= now  # no pass while catching up
        if not nxt.sweeping and caught_up and policy.sweep_due(self.swept_at, now):
            nxt.swept_at = now
            if now - policy.watch < forward_from:
                nxt.sweep_from = nxt.sweep_next = now - policy.watch
                nxt.sweep_seen = []
        start = nxt.sweep_next if nxt.sweep_next is not None else forward_from
        nxt.window_from = start
        nxt.window_to = max(start, min(now, start + policy.max_window))
        nxt.page = 1
        return nxt

    def after_page(
        self,
        now: datetime,
        policy: WindowPolicy,
        *,
        last: bool,
        listed: list[str],
        updates: dict[str, T],
    ) -> tuple[Self, bool, dict[str, T]]:
        """The cursor once this page is on the bus; whether to poll again at once; and the
        known items a completed revisit pass found gone (to report deleted)."""
        assert self.window_from is not None and self.window_to is not None
        known = {**self.known, **updates}
        seen = list(self.sweep_seen)
        if self.sweeping:
            seen.extend(i for i in dict.fromkeys(listed) if i not in set(seen))
        nxt = replace(self, known=known, sweep_seen=seen)
        if not last:
            nxt.page += 1
            return nxt, True, {}
        start, to = self.window_from, self.window_to
        gone: dict[str, T] = {}
        if self.sweeping:
            if to >= self.since - policy.overlap:  # the pass reached the edge: it is complete
                assert self.sweep_from is not None
                gone = self._missing(known, set(seen), self.sweep_from, to)
                nxt.since = max(self.since, to)
                nxt.sweep_from = nxt.sweep_next = None
                nxt.sweep_seen = []
            else:
                nxt.sweep_next = to
        else:
            nxt.since = max(self.since, to)
        nxt.window_from = nxt.window_to = None
        nxt.page = 1
        nxt.known = self._pruned(nxt.known, now, policy)
        # A forward window cut short by max_window: the next one follows at once. A revisit
        # pass goes on window after window until it reaches the edge, then waits.
        cut_short = not self.sweeping and to < now and to - start >= policy.max_window
        return nxt, nxt.sweeping or cut_short, gone

    @staticmethod
    def _missing(
        known: dict[str, T], seen: set[str], start: datetime, end: datetime
    ) -> dict[str, T]:
        """Count a miss for every known, undeleted item the pass should have listed."""
        gone: dict[str, T] = {}
        for qid, entry in list(known.items()):
            if entry.deleted or qid in seen or not start <= entry.created_at <= end:
                continue
            entry = replace(entry, misses=entry.misses + 1)
            if entry.misses >= MISSES_BEFORE_GONE:
                entry = replace(entry, deleted=True)
                gone[qid] = entry
            known[qid] = entry
        return gone

    @staticmethod
    def _pruned(known: dict[str, T], now: datetime, policy: WindowPolicy) -> dict[str, T]:
        horizon = int((now - max(policy.watch, policy.overlap) - KNOWN_SLACK).timestamp())
        kept = {k: v for k, v in known.items() if v.created >= horizon}
        if len(kept) > MAX_KNOWN:
            newest = sorted(kept.items(), key=lambda kv: kv[1].created)[-MAX_KNOWN:]
            kept = dict(newest)
        return kept

    def frontier(self) -> datetime:
        """How far the board is read: lag = now − frontier."""
        return self.since
