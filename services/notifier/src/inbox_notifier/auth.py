"""Bearer-token auth for /api/*. Tokens come from INBOX_AGENT_TOKENS (`name:token,...`);
without any, an admin token is minted on first start and kept in $INBOX_DATA_DIR/admin-token."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from inbox_core.logging import get_logger
from inbox_core.settings import AgentTokens

log = get_logger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
AGENT = web.RequestKey("agent", str)


def load_tokens(data_dir: Path) -> dict[str, str]:
    """token → agent name."""
    tokens = AgentTokens().parse()
    if tokens:
        return tokens
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        print(f"inbox: created admin token in {path}", flush=True)
    return {token: "admin"}


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # EventSource cannot set headers, so SSE also takes ?access_token=.
    if request.path == "/api/events":
        return request.query.get("access_token") or None
    return None


def auth_middleware(tokens: dict[str, str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        presented = _presented_token(request)
        agent = None
        if presented is not None:
            for token, name in tokens.items():
                if hmac.compare_digest(token.encode(), presented.encode()):
                    agent = name
        if agent is None:
            return web.json_response(
                {
                    "code": "unauthorized",
                    "message": "Authorization: Bearer <token> required",
                    "errors": [],
                },
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="inbox"'},
            )
        request[AGENT] = agent
        return await handler(request)

    return middleware
