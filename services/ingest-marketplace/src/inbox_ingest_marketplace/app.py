"""ingest-marketplace: one poller per configured marketplace account, answers posted back.

Inbound: `PollerRunner` reads each board page by page and publishes to
`inbox.in.<channel>.<account>`; the cursor is saved only after every PubAck, so a bus outage
means the same page is read again later. Outbound: replies on `inbox.out.<channel>.<account>`
are posted to the platform and reported on `inbox.delivery.<channel>.<account>`.
/healthz is 200 while bus and store answer; a failing platform shows in `checks.pollers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Final

from aiohttp import web

from inbox_core.connector import Connector, PollerRunner, PollStatus
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_ingest_marketplace.channels.naver_commerce import NaverCommerce
from inbox_ingest_marketplace.settings import MarketSettings

log = get_logger(__name__)

SERVICE: Final = "ingest-marketplace"
RUNNERS: Final = web.AppKey("pollers", list[PollerRunner])
CONNECTOR: Final = web.AppKey("connector", Connector)
# A poller loop that died of something PollerRunner does not handle (e.g. a store outage
# while loading the cursor) is restarted after this long, doubling up to the cap.
RESTART_BASE_S: Final = 1.0
RESTART_MAX_S: Final = 60.0


def _naver_commerce(settings: MarketSettings, connector: Connector) -> NaverCommerce:
    assert settings.naver_commerce_client_id is not None
    assert settings.naver_commerce_client_secret is not None
    account = settings.naver_commerce_account

    async def keep_invalid(body: bytes, error: str) -> None:
        await connector.keep_raw(NaverCommerce.name, account, body, error)

    return NaverCommerce(
        account,
        client_id=settings.naver_commerce_client_id,
        client_secret=settings.naver_commerce_client_secret.get_secret_value(),
        base_url=settings.naver_commerce_url,
        backfill=timedelta(days=settings.naver_commerce_backfill_days),
        on_invalid=keep_invalid,
    )


async def _supervise(runner: PollerRunner) -> None:
    """Run the poll loop forever; restart it when it dies of an unexpected error."""
    failures = 0
    while True:
        try:
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # shown in /healthz, then retried
            failures += 1
            error = f"{type(err).__name__}: {err}"
            for board in runner.channel.boards:
                runner.status.setdefault(board, PollStatus()).last_error = error
            delay = min(RESTART_MAX_S, RESTART_BASE_S * 2 ** (failures - 1))
            log.error(
                "poller crashed, restarting",
                channel=runner.channel.name,
                account=runner.channel.account,
                error=error,
                delay=delay,
            )
            await asyncio.sleep(delay)


def create_app(settings: MarketSettings | None = None) -> web.Application:
    settings = settings or MarketSettings()
    runtime = Runtime(SERVICE, settings)
    app = create_base_app(runtime)
    connector = Connector(runtime)
    app.cleanup_ctx.append(connector.context)
    app[CONNECTOR] = connector

    # channel name → account → channel; a channel without credentials is listed as disabled.
    naver: dict[str, NaverCommerce] = {}
    disabled: dict[str, str] = {}
    if settings.naver_commerce_enabled:
        channel = _naver_commerce(settings, connector)
        naver[channel.account] = channel
    else:
        disabled[NaverCommerce.name] = "disabled: NAVER_COMMERCE_CLIENT_ID is not set"

    runners = [PollerRunner(connector, ch, settings.poll_interval_s) for ch in naver.values()]
    app[RUNNERS] = runners

    async def pollers(_: web.Application) -> AsyncIterator[None]:
        if naver:
            await connector.start_outbound(naver, NaverCommerce.name)
        tasks = [
            runtime.spawn(_supervise(r), name=f"poller:{r.channel.name}:{r.channel.account}")
            for r in runners
        ]
        for r in runners:
            log.info(
                "poller started",
                channel=r.channel.name,
                account=r.channel.account,
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

    async def pollers_health() -> dict[str, Any]:
        detail: dict[str, Any] = {
            name: {"enabled": False, "detail": reason} for name, reason in disabled.items()
        }
        for r in runners:
            entry = detail.setdefault(
                r.channel.name, {"enabled": True, "interval_s": r.interval_s, "accounts": {}}
            )
            entry["accounts"][r.channel.account] = {
                board: r.status.get(board, PollStatus()).as_dict() for board in r.channel.boards
            }
        return detail

    runtime.extra_checks["pollers"] = pollers_health
    return app
