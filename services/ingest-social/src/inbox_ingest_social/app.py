"""The ingest-social service: Meta webhooks in, agent replies out through the Send API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Final

from aiohttp import web

from inbox_core.connector import Channel, Connector
from inbox_core.runtime import Runtime, create_base_app
from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig
from inbox_ingest_social.settings import SocialSettings

SERVICE: Final = "ingest-social"
# A webhook serves every page subscribed to the app; the page is only known per event.
# This names the (unknown) account of raw payloads kept when a body cannot be read.
WEBHOOK_ACCOUNT: Final = "*"

CONNECTOR = web.AppKey("connector", Connector)


class AnyAccount(Mapping[str, Channel]):
    """account → channel for any account key, made on first use (one token, many pages)."""

    def __init__(self, factory: Callable[[str], Channel]) -> None:
        self._factory = factory
        self._made: dict[str, Channel] = {}

    def __getitem__(self, account: str) -> Channel:
        channel = self._made.get(account)
        if channel is None:
            channel = self._made[account] = self._factory(account)
        return channel

    def __iter__(self) -> Iterator[str]:
        return iter(self._made)

    def __len__(self) -> int:
        return len(self._made)


def create_app(settings: SocialSettings | None = None) -> web.Application:
    settings = settings or SocialSettings()
    runtime = Runtime(SERVICE, settings)
    app = create_base_app(runtime, client_max_size=settings.max_body_bytes)
    connector = Connector(runtime)
    app[CONNECTOR] = connector
    # The connector stops its outbound consumers (in-flight sends finish) before it closes
    # the HTTP session they send with.
    app.cleanup_ctx.append(connector.context)

    config = MetaConfig.from_settings(settings)
    channel_types: tuple[type[Facebook], ...] = (Facebook, Instagram)
    for channel_type in channel_types:
        connector.mount(app, channel_type(WEBHOOK_ACCOUNT, config))

    def factory(channel_type: type[Facebook]) -> Callable[[str], Channel]:
        return lambda account: channel_type(account, config)

    async def outbound(_: web.Application) -> AsyncIterator[None]:
        for channel_type in channel_types:
            await connector.start_outbound(AnyAccount(factory(channel_type)), channel_type.name)
        yield  # the connector stops the consumers before closing its HTTP session

    app.cleanup_ctx.append(outbound)

    async def meta_config() -> dict[str, Any]:
        # Presence only, never the values.
        return {
            "app_secret": config.app_secret is not None,
            "verify_token": config.verify_token is not None,
            "page_token": config.page_token is not None,
        }

    runtime.extra_checks["meta"] = meta_config
    return app
