"""WindowCursor with the plain `Tracked` items: the store round trip, an unreadable state,
and an item two revisit passes in a row do not list is reported gone (once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inbox_core.window_cursor import Tracked, WindowCursor, WindowPolicy

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
POLICY = WindowPolicy(
    max_window=timedelta(days=1),
    backfill=timedelta(days=3),
    watch=timedelta(days=2),
    revisit=timedelta(0),  # a revisit pass at every poll
)


def test_cursor_survives_a_round_trip_through_the_store() -> None:
    cursor: WindowCursor[Tracked] = WindowCursor(
        since=NOW, page=2, swept_at=NOW, known={"7": Tracked(created=int(NOW.timestamp()))}
    )

    assert WindowCursor.load(cursor.dump()) == cursor


@pytest.mark.parametrize(
    "state",
    [{}, {"since": "yesterday"}, {"since": "2026-11-20T06:00:00"}, {"since": None}],
    ids=["empty", "not-a-date", "no-time-zone", "none"],
)
def test_unreadable_state_is_a_value_error(state: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="unreadable cursor"):
        WindowCursor.load(state)


def test_item_missing_from_two_revisit_passes_is_reported_gone_once() -> None:
    asked = NOW - timedelta(hours=5)
    cursor: WindowCursor[Tracked] = WindowCursor(
        since=NOW,
        swept_at=NOW - timedelta(hours=1),
        known={"7": Tracked(created=int(asked.timestamp()))},
    )
    reported = []
    for minutes in (1, 2, 3):
        now = NOW + timedelta(minutes=minutes)
        more = True
        while more:
            cursor = cursor.begin(now, POLICY)
            cursor, more, gone = cursor.after_page(now, POLICY, last=True, listed=[], updates={})
            reported += list(gone)

    assert reported == ["7"] and cursor.known["7"].deleted
