"""The SDK connector with one step more: `prepare`, between `normalise` and the publish.

`normalise` must stay pure (no I/O, no clock), but two channels need I/O before a message
goes on the bus: Meta fills customer names from the Graph API, TalkTalk drops echoes of our
own replies by asking the store. A mounted channel that has

    async def prepare(self, messages, http) -> list[InboundMessage]

gets it called here; it must bound its own time and never raise (a failed lookup leaves the
message as it was). A channel may also set `publish_budget_s`: prepare + publish must end
within it, else the webhook answers 503 as for a bus outage (Kakao and TalkTalk wait at
most 5 s for our answer, so we give up before they do).

This is a stand-in for a hook in inbox_core.connector (see the README: core changes wanted).
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

import aiohttp
from aiohttp import web

from inbox_core.connector import Connector, WebhookChannel
from inbox_core.errors import BusUnavailable
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime
from inbox_core.schema import InboundMessage

log = get_logger(__name__)


@runtime_checkable
class Preparing(Protocol):
    async def prepare(
        self, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]: ...


class SocialConnector(Connector):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self._webhooks: dict[str, WebhookChannel] = {}
        self._unauthenticated: set[str] = set()

    def mount(
        self, app: web.Application, channel: WebhookChannel, *, authenticated: bool = True
    ) -> None:
        """`authenticated=False` (INBOX_INSECURE_WEBHOOKS, no secret): anyone may call, so
        what cannot be read is answered 400 but not kept."""
        self._webhooks[channel.name] = channel
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

    async def publish(self, messages: list[InboundMessage]) -> None:
        if not messages:
            return
        channel = self._webhooks.get(messages[0].channel)
        budget: float | None = getattr(channel, "publish_budget_s", None)
        if budget is None:
            await super().publish(await self._prepare(channel, messages))
            return
        try:
            async with asyncio.timeout(budget):
                await super().publish(await self._prepare(channel, messages))
        except TimeoutError as err:
            raise BusUnavailable(f"no PubAck within the {budget:g}s webhook budget") from err

    async def _prepare(
        self, channel: WebhookChannel | None, messages: list[InboundMessage]
    ) -> list[InboundMessage]:
        if not isinstance(channel, Preparing) or self.http is None:
            return messages
        return await channel.prepare(messages, self.http)
