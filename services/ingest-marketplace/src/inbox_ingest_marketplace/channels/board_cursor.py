"""Where a board's poller is (an object, as Airbyte keeps cursors), saved only after PubAck.

- `since`: the forward edge. Everything created before `since − overlap` has been read.
  Each forward window is `[since − overlap, now]` (late-indexed items are read again),
  cut to the platform's longest span (`Board.max_window`): a service that was down for
  weeks catches up window by window. A window is paged to its end before `since` moves.
- `window_from`/`window_to`/`page`: the window being paged, pinned so every page of one
  window asks the same question.
- Revisit pass: every `revisit` the next windows start `watch` ago instead (chunked the same
  way) and walk forward to the edge. That is how edits, answers typed on the platform and
  deletions of older questions are found. A known question that two passes in a row do
  not list is reported deleted (one miss may be paging drift).
- `known`: question id → `Known` fingerprint, for questions asked within the watch horizon:
  the dedup memory (overlaps are not published again) and the base for `diff`.

Stored as plain JSON (`dump`/`load`). An older Naver cursor (`seen` instead of `known`)
is adopted: its questions count as known, with their text unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from inbox_core.logging import get_logger
from inbox_ingest_marketplace.channels.board import Window
from inbox_ingest_marketplace.channels.question_changes import Known

log = get_logger(__name__)

# Each forward window starts this long before the previous one ended.
OVERLAP: Final = timedelta(minutes=10)
# Fingerprints of questions asked this long before the watch horizon are dropped.
KNOWN_SLACK: Final = timedelta(days=2)
MAX_KNOWN: Final = 20_000
MISSES_BEFORE_DELETED: Final = 2


@dataclass(frozen=True)
class WindowPolicy:
    max_window: timedelta
    backfill: timedelta  # how far back a new account reads
    watch: timedelta  # how far back a revisit pass reads
    revisit: timedelta | None  # how often; None = never, 0 = every poll
    overlap: timedelta = OVERLAP

    def sweep_due(self, swept_at: datetime | None, now: datetime) -> bool:
        if self.revisit is None:
            return False
        return swept_at is None or now - swept_at >= self.revisit


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
class BoardCursor:
    since: datetime
    page: int = 1
    window_from: datetime | None = None
    window_to: datetime | None = None
    sweep_from: datetime | None = None  # start of the revisit pass in progress
    sweep_next: datetime | None = None  # where its next window starts
    swept_at: datetime | None = None  # when the last pass began
    sweep_seen: list[str] = field(default_factory=list)
    known: dict[str, Known] = field(default_factory=dict)

    # --- store round trip ------------------------------------------------------------

    @classmethod
    def start(
        cls, state: dict[str, Any] | None, now: datetime, policy: WindowPolicy
    ) -> BoardCursor:
        if not state:
            return cls(since=now - policy.backfill, swept_at=now)
        try:
            since = _dt(state["since"])
            assert since is not None
            if "known" in state:
                known = {
                    str(k): v
                    for k, raw in dict(state["known"]).items()
                    if (v := Known.load(raw)) is not None
                }
            else:  # an older cursor: ids seen near the edge, with their createDate
                known = {
                    str(k): Known(created=int(datetime.fromisoformat(str(v)).timestamp()), text="")
                    for k, v in dict(state.get("seen") or {}).items()
                }
            cursor = cls(
                since=since,
                page=max(1, int(state.get("page") or 1)),
                window_from=_dt(state.get("window_from")),
                window_to=_dt(state.get("window_to")),
                sweep_from=_dt(state.get("sweep_from")),
                sweep_next=_dt(state.get("sweep_next")),
                swept_at=_dt(state.get("swept_at")) or now,
                sweep_seen=[str(i) for i in state.get("sweep_seen") or []],
                known=known,
            )
        except (KeyError, TypeError, ValueError, AssertionError) as err:
            log.error("unreadable cursor, back-filling again", error=str(err))
            return cls(since=now - policy.backfill, swept_at=now)
        if cursor.window_to is not None and cursor.window_from is None:  # older cursor
            cursor.window_from = cursor.since - policy.overlap
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

    def begin(self, now: datetime, policy: WindowPolicy) -> BoardCursor:
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
        updates: dict[str, Known],
    ) -> tuple[BoardCursor, bool, dict[str, Known]]:
        """The cursor once this page is on the bus; whether to poll again at once; and the
        known questions a completed revisit pass found gone (to report deleted)."""
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
        gone: dict[str, Known] = {}
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

    def _missing(
        self, known: dict[str, Known], seen: set[str], start: datetime, end: datetime
    ) -> dict[str, Known]:
        """Count a miss for every known, undeleted question the pass should have listed."""
        gone: dict[str, Known] = {}
        for qid, entry in list(known.items()):
            if entry.deleted or qid in seen or not start <= entry.created_at <= end:
                continue
            entry = replace(entry, misses=entry.misses + 1)
            if entry.misses >= MISSES_BEFORE_DELETED:
                entry = replace(entry, deleted=True)
                gone[qid] = entry
            known[qid] = entry
        return gone

    @staticmethod
    def _pruned(known: dict[str, Known], now: datetime, policy: WindowPolicy) -> dict[str, Known]:
        horizon = int((now - max(policy.watch, policy.overlap) - KNOWN_SLACK).timestamp())
        kept = {k: v for k, v in known.items() if v.created >= horizon}
        if len(kept) > MAX_KNOWN:
            newest = sorted(kept.items(), key=lambda kv: kv[1].created)[-MAX_KNOWN:]
            kept = dict(newest)
        return kept

    def frontier(self) -> datetime:
        """How far the board is read: lag = now − frontier."""
        return self.since
