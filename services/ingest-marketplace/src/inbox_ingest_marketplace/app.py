"""ingest-marketplace: one poller per configured marketplace account, answers posted back.

Inbound: one `PollerRunner` per account reads each of its boards page by page and
publishes to `inbox.in.<channel>.<account>`; the cursor is saved only after every PubAck,
so a bus outage means the same page is read again later. An account whose credentials are
refused waits (`auth_failed` in /healthz) while the others go on. Outbound: replies on
`inbox.out.<channel>.<account>` are posted to the right endpoint of the question's board
and reported on `inbox.delivery.<channel>.<account>` (sent / failed with the reason).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Final

from aiohttp import web
from pymongo import IndexModel

from inbox_core.answer_ledger import AnswerLedger, StoreAnswerLedger
from inbox_core.connector import Connector, PollerRunner
from inbox_core.http import RetryPolicy
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import utcnow
from inbox_ingest_marketplace.accounts import (
    AccountConfig,
    CoupangAccount,
    ElevenstAccount,
    NaverCommerceAccount,
)
from inbox_ingest_marketplace.channels.board_poller import MarketChannel, PollOptions
from inbox_ingest_marketplace.channels.coupang import Coupang
from inbox_ingest_marketplace.channels.elevenst import Elevenst
from inbox_ingest_marketplace.channels.naver_commerce import NaverCommerce
from inbox_ingest_marketplace.health import pollers_health
from inbox_ingest_marketplace.settings import MarketSettings

log = get_logger(__name__)

SERVICE: Final = "ingest-marketplace"
RUNNERS: Final = web.AppKey("pollers", list[PollerRunner])
CONNECTOR: Final = web.AppKey("connector", Connector)
CHANNELS: Final = web.AppKey("market_channels", dict[str, dict[str, MarketChannel]])
DISABLED: Final = {
    NaverCommerce.name: "NAVER_COMMERCE_CLIENT_ID",
    Coupang.name: "COUPANG_ACCESS_KEY",
    Elevenst.name: "ELEVENST_API_KEY",
}
# The answers we posted (the loop guard: not recorded again as echoes).
ANSWERS: Final = "market_answers"
INDEXES: Final = {ANSWERS: [IndexModel([("at", 1)])]}


def _options(settings: MarketSettings, config: AccountConfig) -> PollOptions:
    backfill = config.backfill_days if config.backfill_days is not None else settings.backfill_days
    return PollOptions(
        backfill=timedelta(days=backfill),
        watch=timedelta(days=settings.watch_days),
        revisit=timedelta(seconds=settings.revisit_s),
        retry=RetryPolicy(attempts=settings.http_attempts, max_wait_s=settings.http_retry_max_s),
    )


def build_channel(
    config: AccountConfig, settings: MarketSettings, ledger: AnswerLedger
) -> MarketChannel:
    options = _options(settings, config)
    if isinstance(config, NaverCommerceAccount):
        return NaverCommerce(
            config.account,
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            base_url=config.url,
            options=options,
            ledger=ledger,
        )
    if isinstance(config, CoupangAccount):
        return Coupang(
            config.account,
            access_key=config.access_key,
            secret_key=config.secret_key.get_secret_value(),
            vendor_id=config.vendor_id,
            wing_id=config.wing_id,
            base_url=config.url,
            options=options,
            ledger=ledger,
        )
    assert isinstance(config, ElevenstAccount)
    return Elevenst(
        config.account,
        api_key=config.api_key.get_secret_value(),
        base_url=config.url,
        options=options,
        ledger=ledger,
    )


def create_app(settings: MarketSettings | None = None) -> web.Application:
    settings = settings or MarketSettings()
    accounts = settings.accounts()  # a broken accounts file stops the start, with the reason
    runtime = Runtime(SERVICE, settings, indexes=dict(INDEXES))
    app = create_base_app(runtime)
    connector = Connector(runtime)
    app.cleanup_ctx.append(connector.context)
    app[CONNECTOR] = connector

    ledger = StoreAnswerLedger(runtime.store, ANSWERS)
    channels: dict[str, dict[str, MarketChannel]] = {}
    for config in accounts:
        channel = build_channel(config, settings, ledger)
        channels.setdefault(channel.name, {})[channel.account] = channel
    disabled = {
        name: f"disabled: {env} is not set and INBOX_MARKET_ACCOUNTS names no {name} account"
        for name, env in DISABLED.items()
        if name not in channels
    }
    runners = [
        PollerRunner(connector, ch, settings.poll_interval_s, auth_retry_s=settings.auth_retry_s)
        for by_account in channels.values()
        for ch in by_account.values()
    ]
    app[RUNNERS] = runners
    app[CHANNELS] = channels

    async def pollers(_: web.Application) -> AsyncIterator[None]:
        for name, by_account in channels.items():
            await connector.start_outbound(by_account, name)
        tasks = [
            runtime.spawn(r.run(), name=f"poller:{r.channel.name}:{r.channel.account}")
            for r in runners
        ]
        for r in runners:
            log.info(
                "poller started",
                channel=r.channel.name,
                account=r.channel.account,
                boards=list(r.channel.boards),
                interval_s=r.interval_s,
            )
        try:
            yield
        finally:
            # Stop polling before the HTTP session and the bus go away.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app.cleanup_ctx.append(pollers)

    async def health() -> dict[str, Any]:
        return pollers_health(runners, disabled, utcnow())

    runtime.extra_checks["pollers"] = health
    return app
