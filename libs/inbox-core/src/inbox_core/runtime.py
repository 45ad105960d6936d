"""Service runtime: an aiohttp app owning the bus, the store, /healthz and /metrics.

A service is `create_app(settings) -> web.Application`, with no I/O at import. Resources
live in `cleanup_ctx`, so `web.run_app` gives SIGINT/SIGTERM drain for free: consumers
finish in-flight work, the bus drains, the store closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import IndexModel

from inbox_core.bus import Bus
from inbox_core.logging import configure_logging, get_logger
from inbox_core.masking import mask_url_credentials
from inbox_core.settings import ServiceSettings
from inbox_core.store import Store
from inbox_core.telemetry import configure_tracing

log = get_logger(__name__)
# How long stop() waits for cancelled background tasks before it closes the bus and store.
STOP_TASKS_S = 3.0

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


class Runtime:
    """What every service has: a name, settings, a bus, a store and health checks."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        indexes: dict[str, list[IndexModel]] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.indexes = indexes or {}
        self.bus = Bus(settings, name)
        self.store = Store(settings)
        self.extra_checks: dict[str, HealthCheck] = {}
        self.background: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run a background task owned by the runtime (cancelled at shutdown)."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task died", task=task.get_name(), error=repr(task.exception()))

    async def start(self) -> None:
        await self.bus.connect()
        await self.bus.provision()
        await self.store.wait_ready()
        await self.store.ensure_indexes(self.indexes)
        log.info("runtime started", nats=mask_url_credentials(self.settings.nats_url))

    async def stop(self) -> None:
        for task in list(self.background):
            task.cancel()
        if self.background:
            # A task cancelled inside a store call may wait for the store's answer; closing the
            # store below ends that call, so a slow store never holds the shutdown.
            _, stuck = await asyncio.wait(self.background, timeout=STOP_TASKS_S)
            if stuck:
                log.warning("background tasks still stopping", tasks=[t.get_name() for t in stuck])
        await self.bus.close()
        await self.store.close()
        log.info("runtime stopped")

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        bus_ok = self.bus.connected
        store_ok = await self.store.ping(timeout=1.5)
        checks: dict[str, Any] = {"bus": bus_ok, "store": store_ok}
        ok = bus_ok and store_ok
        for name, check in self.extra_checks.items():
            checks[name] = result = await check()
            # A check answering {"ok": False} (e.g. the SMTP listener is down) fails health;
            # other detail (a platform's auth failure) is shown without failing it.
            if isinstance(result, dict) and result.get("ok") is False:
                ok = False
        return ok, checks


RUNTIME = web.AppKey("runtime", Runtime)


async def _healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    ok, checks = await runtime.health()
    body = {"status": "ok" if ok else "unavailable", "service": runtime.name, "checks": checks}
    return web.json_response(body, status=200 if ok else 503)


async def _metrics(_: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp


def create_base_app(runtime: Runtime, *, client_max_size: int = 1024**2) -> web.Application:
    """An app with the runtime attached, /healthz and /metrics. Services add their routes."""
    app = web.Application(client_max_size=client_max_size)
    app[RUNTIME] = runtime
    app.cleanup_ctx.append(runtime.context)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


def run_service(
    name: str, settings: ServiceSettings, factory: Callable[[], web.Application]
) -> None:
    """Entry point body of every service: logs, traces, then serve until SIGINT/SIGTERM."""
    configure_logging(name, settings.log_level)
    configure_tracing(name)
    app = factory()
    log.info("starting", port=settings.port)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        shutdown_timeout=settings.shutdown_grace_s,
        handle_signals=True,
    )
