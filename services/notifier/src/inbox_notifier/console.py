"""The reference agent console: static files served by the notifier at `/` (no separate
server, no build step, no CDN). The page talks to the same agent API and SSE stream as any
other UI (`GET /api/me` tells it who the token belongs to)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).with_name("static")
NO_CACHE = {"Cache-Control": "no-cache"}


async def _index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=NO_CACHE)


async def _reports(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "reports.html", headers=NO_CACHE)


def install_console(app: web.Application) -> None:
    if not (STATIC / "index.html").exists():
        return
    app.router.add_get("/", _index)
    app.router.add_get("/reports", _reports)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
