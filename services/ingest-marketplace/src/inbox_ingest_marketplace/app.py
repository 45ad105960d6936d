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

from inbox_core.answer_ledger import StoreAnswerLedger
from inbox_core.channels import Host, hosted_by
from inbox_core.connector import Connector, PollerRunner
from inbox_core.http import RetryPolicy
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_core.schema import utcnow
from inbox_ingest_marketplace.accounts import AccountConfig
from inbox_ingest_marketplace.channels.board_poller import MarketChannel, PollOptions
from inbox_ingest_marketplace.health import pollers_health
from inbox_ingest_marketplace.registry import SERVICE
from inbox_ingest_marketplace.settings import MarketSettings

log = get_logger(__name__)

RUNNERS: Final = web.AppKey("pollers", list[PollerRunner])
CONNECTOR: Final = web.AppKey("connector", Connector)
CHANNELS: Final = web.AppKey("market_channels", dict[str, dict[str, MarketChannel]])
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


def create_app(settings: MarketSettings | None = None) -> web.Application:
    settings = settings or MarketSettings()
    accounts = settings.accounts()  # a broken accounts file stops the start, with the reason
    runtime = Runtime(SERVICE, settings, indexes=dict(INDEXES))
    app = create_base_app(runtime)
    connector = Connector(runtime)
    app.cleanup_ctx.append(connector.context)
    app[CONNECTOR] = connector

    ledger = StoreAnswerLedger(runtime.store, ANSWERS)
    # Every channel registered for this service (entry points `inbox.channels`) builds its
    # pollers from the accounts of its platform.
    shared = {
        "accounts": accounts,
        "ledger": ledger,
        "options": lambda config: _options(settings, config),
    }
    host = Host(runtime, settings, shared)
    channels: dict[str, dict[str, MarketChannel]] = {}
    replies: dict[str, Any] = {}
    disabled: dict[str, str] = {}
    runners: list[PollerRunner] = []
    for spec in hosted_by(SERVICE):
        if spec.setup is None:
            continue
        setup = spec.setup(host)
        runtime.extra_checks.update(setup.checks)
        if setup.disabled is not None:
            disabled[spec.name] = setup.disabled
            continue
        for poller in setup.pollers:
            runners.append(
                PollerRunner(
                    connector, poller, settings.poll_interval_s, auth_retry_s=settings.auth_retry_s
                )
            )
            channels.setdefault(spec.name, {})[poller.account] = poller  # type: ignore[assignment]
        replies[spec.name] = setup.replies or {}
    app[RUNNERS] = runners
    app[CHANNELS] = channels

    async def pollers(_: web.Application) -> AsyncIterator[None]:
        for name, by_account in replies.items():
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
