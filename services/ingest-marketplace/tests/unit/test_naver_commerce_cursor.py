"""QnaCursor: overlapping windows, paging to the end, the seen set, catching up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inbox_ingest_marketplace.channels.naver_commerce import (
    MAX_WINDOW,
    OVERLAP,
    QnaCursor,
    normalise_qna,
)

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
BACKFILL = timedelta(days=3)


def _message(question_id: int, created: datetime):
    item = {"questionId": question_id, "question": "사이즈 문의", "createDate": created.isoformat()}
    return normalise_qna(item, "smartstore")


def test_first_start_backfills_in_windows_of_at_most_max_window() -> None:
    cursor = QnaCursor.start(None, NOW, BACKFILL)

    start, end = cursor.window(NOW)

    assert cursor.since == NOW - BACKFILL
    assert start == NOW - BACKFILL - OVERLAP
    assert end == NOW - BACKFILL + MAX_WINDOW
    nxt, more = cursor.after_page(NOW, last=True, published=[])
    assert more  # behind: the next window follows at once
    assert nxt.since == end and nxt.page == 1 and nxt.window_to is None


def test_window_pages_to_the_end_then_since_moves_to_the_window_end() -> None:
    since = NOW - timedelta(minutes=1)
    cursor = QnaCursor(since=since)

    page2, more = cursor.after_page(NOW, last=False, published=[])
    assert more and page2.page == 2 and page2.window_to == NOW and page2.since == since

    later = NOW + timedelta(seconds=30)  # paging takes time; the window stays put
    assert page2.window(later) == (since - OVERLAP, NOW)
    done, more = page2.after_page(later, last=True, published=[])

    assert not more
    assert done.since == NOW and done.page == 1 and done.window_to is None
    assert done.window(later) == (NOW - OVERLAP, later)


def test_cursor_survives_a_round_trip_through_the_store() -> None:
    cursor = QnaCursor(
        since=NOW, page=3, window_to=NOW + timedelta(minutes=1), seen={"686514802": NOW.isoformat()}
    )

    again = QnaCursor.start(cursor.dump(), NOW, BACKFILL)

    assert again == cursor
    assert set(cursor.dump()) == {"since", "page", "window_to", "seen"}


def test_seen_keeps_only_what_the_next_overlap_rereads() -> None:
    cursor = QnaCursor(since=NOW - timedelta(minutes=1))
    old = _message(1, NOW - OVERLAP - timedelta(seconds=1))
    recent = _message(2, NOW - timedelta(minutes=3))

    done, _ = cursor.after_page(NOW, last=True, published=[old, recent])

    assert set(done.seen) == {"2"}
    later = NOW + timedelta(minutes=11)
    pruned, _ = done.after_page(later, last=True, published=[])
    assert pruned.seen == {}


def test_unreadable_cursor_starts_a_new_backfill() -> None:
    cursor = QnaCursor.start({"since": "yesterday"}, NOW, BACKFILL)

    assert cursor.since == NOW - BACKFILL and cursor.page == 1
