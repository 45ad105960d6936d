from __future__ import annotations

from pydantic import Field

from inbox_core.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    port: int = Field(8080, validation_alias="INBOX_API_PORT")
    # Seconds between SSE keep-alive comments (proxies drop idle streams).
    sse_keepalive_s: float = Field(15.0, gt=0, validation_alias="INBOX_SSE_KEEPALIVE_S")
    # Events a slow SSE client may have waiting before it is disconnected (it resumes by id).
    sse_buffer: int = Field(1000, ge=10, validation_alias="INBOX_SSE_BUFFER")
    sse_write_timeout_s: float = Field(30.0, gt=0, validation_alias="INBOX_SSE_WRITE_TIMEOUT_S")
    # Outbox events older than this that are still unpublished are re-sent by the relay.
    outbox_relay_s: float = Field(2.0, gt=0, validation_alias="INBOX_OUTBOX_RELAY_S")
    # How often SLA deadlines are checked, and when the warning fires (share of the target).
    sla_tick_s: float = Field(5.0, gt=0, validation_alias="INBOX_SLA_TICK_S")
    sla_warn_ratio: float = Field(0.8, gt=0, lt=1, validation_alias="INBOX_SLA_WARN_RATIO")
    # Where platforms reach the notifier for reply images they fetch by URL (TalkTalk);
    # unset: those channels cannot carry files.
    public_url: str | None = Field(None, validation_alias="INBOX_PUBLIC_URL")
    # Wrong tokens one address may present per minute before it gets 429 (valid tokens pass).
    auth_failures_per_minute: int = Field(
        10, ge=1, validation_alias="INBOX_AUTH_FAILURES_PER_MINUTE"
    )
    # Spike alerts (spikes.py): arrivals of one category or product in the last window
    # against the usual for that hour; a floor keeps quiet shops from being alarmed.
    spike_window_s: int = Field(900, ge=60, validation_alias="INBOX_SPIKE_WINDOW_S")
    spike_factor: float = Field(3.0, gt=1, validation_alias="INBOX_SPIKE_FACTOR")
    spike_min: int = Field(10, ge=1, validation_alias="INBOX_SPIKE_MIN")
    spike_tick_s: float = Field(30.0, gt=0, validation_alias="INBOX_SPIKE_TICK_S")
