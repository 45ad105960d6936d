"""Metrics of ingest-social, beside the SDK's (inbox_core.metrics).

The SDK counts messages published (`inbox_connector_received_total`), requests refused by
reason (`inbox_connector_rejected_total`: auth, invalid, bus_down; this service adds
ip_not_allowed and too_large) and replies by result (`inbox_outbound_total`). This module
adds what only this service knows.
"""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOK_REQUESTS = Counter(
    "inbox_social_webhook_requests_total", "Webhook POSTs received, by channel", ["channel"]
)
ECHOES_DROPPED = Counter(
    "inbox_social_echoes_dropped_total",
    "Echoes of our own replies dropped before publishing (loop guard)",
    ["channel"],
)
PROFILE_LOOKUPS = Counter(
    "inbox_social_profile_lookups_total",
    "Customer profile lookups, by result (cached, found, failed, timeout)",
    ["channel", "result"],
)
KAKAO_REPLY_ROUTE = Counter(
    "inbox_social_kakao_replies_total",
    "Kakao replies by route (callback, sender, callback_expired, callback_refused, refused)",
    ["route"],
)
