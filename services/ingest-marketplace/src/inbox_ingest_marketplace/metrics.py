"""Prometheus metrics of ingest-marketplace, per account and board (beside the core's
`inbox_poll_last_success_timestamp` and `inbox_poll_errors_total`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

POLL_LAG = Gauge(
    "inbox_market_poll_lag_seconds",
    "How far behind now the board is read (now − the cursor's forward edge)",
    ["channel", "account", "board"],
)
BOARD_LAST_SUCCESS = Gauge(
    "inbox_market_board_last_success_timestamp",
    "Unix time of the last page read without error",
    ["channel", "account", "board"],
)
AUTH_FAILED = Gauge(
    "inbox_market_auth_failed",
    "1 while the platform refuses this account's credentials for the board",
    ["channel", "account", "board"],
)
CHANGES = Counter(
    "inbox_market_changes_total",
    "Question changes found (new, edited, deleted, answered on the platform, platform CS)",
    ["channel", "account", "board", "change"],
)
ANSWERS = Counter(
    "inbox_market_answers_total",
    "Agent answers, by result (sent, refused before sending, failed at the platform)",
    ["channel", "account", "board", "result"],
)
