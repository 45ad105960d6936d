"""BoardCursor (the core's WindowCursor with question fingerprints): overlapping windows,
paging to the end, catching up, revisit passes that find deleted questions, and the store
round trip (older Naver cursors included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inbox_core.window_cursor import OVERLAP, WindowPolicy
from inbox_ingest_marketplace.channels.board_cursor import BoardCursor
from inbox_ingest_marketplace.channels.naver_commerce import NaverCommerce
from inbox_ingest_marketplace.channels.question_changes import Known

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
POLICY = WindowPolicy(
    max_window=timedelta(days=1),
    backfill=timedelta(days=3),
    watch=timedelta(days=2),
    revisit=timedelta(minutes=10),
)


def _known(created: datetime, customer: str = "hong****") -> Known:
    return Known(created=int(created.timestamp()), text="abc", customer=customer)


def _drain(cursor: BoardCursor, now: datetime, listed: list[str] | None = None):
    """Read windows until the cursor says there is nothing more right away."""
    windows, gone = [], {}
    while True:
        cursor = cursor.begin(now, POLICY)
        windows.append(cursor.window())
        cursor, more, found = cursor.after_page(
            now, POLICY, last=True, listed=list(listed or []), updates={}
        )
        gone.update(found)
        if not more:
            return cursor, windows, gone


def test_first_start_backfills_window_by_window_then_reaches_now() -> None:
    cursor = BoardCursor.start(None, NOW, POLICY)

    cursor, windows, _ = _drain(cursor, NOW)

    assert windows[0].start == NOW - POLICY.backfill - OVERLAP
    assert all(w.end - w.start <= POLICY.max_window for w in windows)
    assert windows[-1].end == NOW and cursor.since == NOW
    assert not any(w.sweep for w in windows)  # no revisit pass while catching up


def test_window_is_pinned_while_paged_and_since_moves_only_at_its_end() -> None:
    cursor = BoardCursor(since=NOW - timedelta(minutes=1), swept_at=NOW).begin(NOW, POLICY)

    page2, more, _ = cursor.after_page(NOW, POLICY, last=False, listed=["1"], updates={})
    later = NOW + timedelta(seconds=30)
    again = page2.begin(later, POLICY)

    assert more and page2.page == 2 and page2.since == cursor.since
    assert again.window() == cursor.window()  # paging takes time; the window stays put
    done, more, _ = again.after_page(later, POLICY, last=True, listed=[], updates={})
    assert not more and done.since == NOW and done.page == 1 and done.window_to is None
    assert done.begin(later, POLICY).window().start == NOW - OVERLAP


def test_revisit_pass_reads_the_watch_horizon_and_returns_to_the_edge() -> None:
    cursor = BoardCursor(since=NOW, swept_at=NOW - timedelta(minutes=11))

    cursor, windows, _ = _drain(cursor, NOW)

    assert windows[0].start == NOW - POLICY.watch and windows[0].sweep
    assert windows[-1].end == NOW and cursor.sweep_next is None
    assert cursor.swept_at == NOW and cursor.since == NOW


def test_question_missing_from_two_passes_is_gone_once() -> None:
    asked = NOW - timedelta(hours=5)
    state = BoardCursor(since=NOW, swept_at=NOW - timedelta(hours=1), known={"7": _known(asked)})

    state, _, gone = _drain(state, NOW)  # first pass: one miss
    assert gone == {} and state.known["7"].misses == 1
    later = NOW + timedelta(minutes=20)
    state, _, gone = _drain(state, later)  # second pass: gone

    assert list(gone) == ["7"] and gone["7"].deleted
    state, _, gone = _drain(state, later + timedelta(minutes=20))
    assert gone == {}  # reported once


def test_question_listed_again_resets_its_misses() -> None:
    asked = NOW - timedelta(hours=5)
    state = BoardCursor(since=NOW, swept_at=NOW - timedelta(hours=1), known={"7": _known(asked)})
    state, _, _ = _drain(state, NOW)
    assert state.known["7"].misses == 1

    state = state.begin(NOW + timedelta(minutes=20), POLICY)
    state, _, _ = state.after_page(
        NOW + timedelta(minutes=20),
        POLICY,
        last=True,
        listed=["7"],
        updates={"7": _known(asked)},
    )

    assert state.known["7"].misses == 0


def test_fingerprints_older_than_the_watch_horizon_are_dropped() -> None:
    state = BoardCursor(
        since=NOW,
        swept_at=NOW,
        known={"old": _known(NOW - timedelta(days=30)), "new": _known(NOW - timedelta(hours=1))},
    )

    state, _, _ = _drain(state, NOW)

    assert set(state.known) == {"new"}


def test_cursor_survives_a_round_trip_through_the_store() -> None:
    cursor = BoardCursor(
        since=NOW,
        page=3,
        window_from=NOW - OVERLAP,
        window_to=NOW + timedelta(minutes=1),
        sweep_from=NOW - timedelta(days=2),
        sweep_next=NOW - timedelta(days=1),
        swept_at=NOW,
        sweep_seen=["1", "2"],
        known={"686514802": _known(NOW)},
    )

    again = BoardCursor.start(BoardCursor.load(cursor.dump()), NOW, POLICY)

    assert again == cursor


def test_older_naver_cursor_is_adopted() -> None:
    old = {
        "since": NOW.isoformat(),
        "page": 2,
        "window_to": (NOW + timedelta(minutes=1)).isoformat(),
        "seen": {"686514802": (NOW - timedelta(minutes=3)).isoformat()},
    }

    cursor = BoardCursor.start(BoardCursor.load(old), NOW, POLICY)

    assert cursor.page == 2 and cursor.window_from == NOW - OVERLAP
    assert cursor.known["686514802"].text == ""  # known, text not compared


def test_unreadable_cursor_starts_a_new_backfill() -> None:
    channel = NaverCommerce(
        "shop", client_id="id", client_secret="$2a$04$" + "A" * 22, base_url="http://x"
    )
    with pytest.raises(ValueError, match="unreadable cursor"):
        BoardCursor.load({"since": "yesterday"})

    loaded = channel.load_cursor({"since": "yesterday"})  # what PollerRunner calls
    cursor = BoardCursor.start(loaded, NOW, POLICY)

    assert loaded is None

    assert cursor.since == NOW - POLICY.backfill and cursor.page == 1
