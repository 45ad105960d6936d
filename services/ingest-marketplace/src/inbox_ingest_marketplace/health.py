"""The `checks.pollers` detail of /healthz: per platform, per account, per board.

    {"coupang": {"enabled": true, "interval_s": 60.0, "accounts": {"A00012345": {
        "status": "ok" | "auth_failed" | "error" | "starting",
        "last_success": "…",     # the oldest of its boards' last successful polls
        "lag_s": 12.5,           # the largest of its boards' lags (now − forward edge)
        "last_error": null,
        "boards": {"online_inquiries": {"last_success", "last_error", "auth_failed",
                                        "polls", "lag_s"}, …}}}}}

A failing platform never makes /healthz 503 (bus and store decide); it shows here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from inbox_core.connector import PollerRunner, PollStatus


def _account_status(boards: Mapping[str, PollStatus]) -> str:
    if any(st.auth_failed for st in boards.values()):
        return "auth_failed"
    if any(st.last_error for st in boards.values()):
        return "error"
    if boards and all(st.last_success for st in boards.values()):
        return "ok"
    return "starting"


def account_health(runner: PollerRunner, now: datetime) -> dict[str, Any]:
    statuses = {board: runner.status.get(board, PollStatus()) for board in runner.channel.boards}
    boards = {board: {**st.as_dict(), "lag_s": st.lag_s(now)} for board, st in statuses.items()}
    successes = [st.last_success for st in statuses.values() if st.last_success]
    lags = [b["lag_s"] for b in boards.values() if b["lag_s"] is not None]
    errors = [f"{board}: {st.last_error}" for board, st in statuses.items() if st.last_error]
    return {
        "status": _account_status(statuses),
        "last_success": min(successes).isoformat() if len(successes) == len(statuses) else None,
        "lag_s": max(lags) if lags else None,
        "last_error": "; ".join(errors) or None,
        "boards": boards,
    }


def pollers_health(
    runners: Iterable[PollerRunner], disabled: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        name: {"enabled": False, "detail": reason} for name, reason in disabled.items()
    }
    for runner in runners:
        entry = detail.setdefault(
            runner.channel.name,
            {"enabled": True, "interval_s": runner.interval_s, "accounts": {}},
        )
        entry["accounts"][runner.channel.account] = account_health(runner, now)
    return detail
