"""Prometheus metrics shared by every service (one process = one service = one registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PUBLISHED = Counter(
    "inbox_bus_published_total", "Messages published and acknowledged by JetStream", ["stream"]
)
PUBLISH_FAILED = Counter(
    "inbox_bus_publish_failed_total", "Publishes that got no PubAck", ["stream"]
)
DUPLICATES = Counter(
    "inbox_bus_duplicates_total",
    "Publishes JetStream dropped as duplicates (Nats-Msg-Id)",
    ["stream"],
)
CONSUMED = Counter(
    "inbox_bus_consumed_total",
    "Messages handled by a consumer, by outcome (ack, nak, dead_letter)",
    ["consumer", "outcome"],
)
BATCH_MESSAGES = Histogram(
    "inbox_bus_batch_messages",
    "Messages per batch handed to a batch consumer's handler",
    ["consumer"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
HANDLE_SECONDS = Histogram("inbox_bus_handle_seconds", "Time to handle one message", ["consumer"])
CONNECTOR_RECEIVED = Counter(
    "inbox_connector_received_total", "Inbound messages accepted from a platform", ["channel"]
)
CONNECTOR_REJECTED = Counter(
    "inbox_connector_rejected_total", "Inbound requests refused, by reason", ["channel", "reason"]
)
OUTBOUND_SENT = Counter(
    "inbox_outbound_total", "Replies handed to a platform, by result", ["channel", "status"]
)
POLL_LAST_SUCCESS = Gauge(
    "inbox_poll_last_success_timestamp",
    "Unix time of the last successful poll",
    ["channel", "account"],
)
POLL_ERRORS = Counter(
    "inbox_poll_errors_total", "Failed polls, by kind", ["channel", "account", "kind"]
)
STORE_COMMANDS = Counter(
    "inbox_store_commands_total",
    "Commands sent to the store (round trips), by collection and command",
    ["collection", "command"],
)
