"""The reference agent console: static files served by the notifier at `/` (no separate
server, no build step, no CDN). The page talks to the same agent API and SSE stream as any
other UI; the one extra route, `GET /api/me`, tells it who the token belongs to."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from inbox_notifier.auth import AGENT
from inbox_notifier.stream import SETTINGS

STATIC = Path(__file__).with_name("static")
NO_CACHE = {"Cache-Control": "no-cache"}


async def _index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=NO_CACHE)


async def _me(request: web.Request) -> web.Response:
    """The signed-in agent (auth middleware checked the token) and what the console shows."""
    settings = request.app.get(SETTINGS)
    return web.json_response(
        {
            "agent": request[AGENT],
            "sla_warn_ratio": settings.sla_warn_ratio if settings is not None else 0.8,
        },
        headers=NO_CACHE,
    )


def install_console(app: web.Application) -> None:
    app.router.add_get("/api/me", _me)
    if not (STATIC / "index.html").exists():
        return
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
