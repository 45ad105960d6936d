"""The SDK connector with one rule more: webhooks mounted without a secret.

`prepare` and `publish_budget_s` are hooks of inbox_core's `WebhookChannel` (Meta fills
customer names, TalkTalk drops echoes of our own replies; Kakao and TalkTalk answer 503
before the platform's 5 s are up). What this adds: with INBOX_INSECURE_WEBHOOKS and no
secret anyone may call, so what cannot be read is answered 400 but not kept.
"""

from __future__ import annotations

from aiohttp import web

from inbox_core.connector import Connector, WebhookChannel
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime

log = get_logger(__name__)


class SocialConnector(Connector):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self._unauthenticated: set[str] = set()

    def mount(
        self, app: web.Application, channel: WebhookChannel, *, authenticated: bool = True
    ) -> None:
        """`authenticated=False` (INBOX_INSECURE_WEBHOOKS, no secret): anyone may call, so
        what cannot be read is answered 400 but not kept."""
        if not authenticated:
            self._unauthenticated.add(channel.name)
        super().mount(app, channel)

    async def keep_raw(self, channel: str, account: str | None, body: bytes, error: str) -> None:
        if channel in self._unauthenticated:
            log.warning(
                "unreadable webhook from an unauthenticated caller: not kept", channel=channel
            )
            return
        await super().keep_raw(channel, account, body, error)
