from __future__ import annotations

from pydantic import Field

from inbox_core.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    port: int = Field(8080, validation_alias="INBOX_API_PORT")
    # Seconds between SSE keep-alive comments (proxies drop idle streams).
    sse_keepalive_s: float = Field(15.0, gt=0, validation_alias="INBOX_SSE_KEEPALIVE_S")
    # Outbox events older than this that are still unpublished are re-sent by the relay.
    outbox_relay_s: float = Field(2.0, gt=0, validation_alias="INBOX_OUTBOX_RELAY_S")
