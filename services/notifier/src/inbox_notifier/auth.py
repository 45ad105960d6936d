"""Bearer-token auth for /api/*. Tokens come from INBOX_AGENT_TOKENS (`name:token[:role],...`,
role `admin` or `agent`, default `agent`); without any, an admin token is minted on first
start and kept in $INBOX_DATA_DIR/admin-token.

Every handler takes the acting agent from `request[AGENT]` and the role from `request[ROLE]`;
admin-only routes call `require_admin(request)` first."""

from __future__ import annotations

import hmac
import math
import os
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from inbox_core.logging import get_logger
from inbox_core.settings import AgentTokens
from inbox_notifier.routing import ApiError

log = get_logger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
ADMIN = "admin"
AGENT_ROLE = "agent"
AGENT = web.RequestKey("agent", str)
ROLE = web.RequestKey("role", str)


@dataclass(frozen=True)
class Identity:
    name: str
    role: str = AGENT_ROLE


def load_identities(data_dir: Path) -> dict[str, Identity]:
    """token → who holds it."""
    configured = AgentTokens().parse_roles()
    if configured:
        identities = {token: Identity(name, role) for token, (name, role) in configured.items()}
        if not any(i.role == ADMIN for i in identities.values()):
            log.warning(
                "INBOX_AGENT_TOKENS names no admin (name:token:admin): "
                "nobody can replay dead letters, merge customers or edit canned responses"
            )
        return identities
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
    return {token: Identity("admin", ADMIN)}


def load_tokens(data_dir: Path) -> dict[str, str]:
    """token → agent name."""
    return {token: i.name for token, i in load_identities(data_dir).items()}


def is_admin(request: web.Request) -> bool:
    return request.get(ROLE) == ADMIN


def require_admin(request: web.Request) -> None:
    """Raises 403 `forbidden` unless the token is an admin's."""
    if not is_admin(request):
        raise ApiError(403, "forbidden", "only an admin may do this")


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # EventSource cannot set headers, so SSE also takes ?access_token=.
    if request.path == "/api/events":
        return request.query.get("access_token") or None
    return None


def identify(identities: dict[str, Identity], presented: str | None) -> Identity | None:
    """Compares against every token in constant time, so timing tells nothing."""
    found = None
    if presented is not None:
        for token, identity in identities.items():
            if hmac.compare_digest(token.encode(), presented.encode()):
                found = identity
    return found


def unauthorized() -> web.Response:
    return web.json_response(
        {"code": "unauthorized", "message": "Authorization: Bearer <token> required", "errors": []},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="inbox"'},
    )


class FailureLimiter:
    """Wrong tokens per address in a sliding window: after `limit` of them the address gets
    429 until the oldest leaves the window. Only failures count, so a valid token is never
    slowed, even from an address that is being refused. Bounded: the least recently failing
    addresses are forgotten first."""

    def __init__(self, limit: int, window_s: float = 60.0, max_addresses: int = 10_000) -> None:
        self.limit, self.window_s, self.max_addresses = limit, window_s, max_addresses
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds until `address` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        times = self.failures.get(address)
        if not times:
            return 0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(times[0] + self.window_s - now))

    def fail(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self.failures.pop(address, None) or deque(maxlen=self.limit)
        times.append(now)
        self.failures[address] = times
        while len(self.failures) > self.max_addresses:
            self.failures.popitem(last=False)


def too_many(retry_after: int) -> web.Response:
    return web.json_response(
        {
            "code": "too_many_failures",
            "message": f"too many wrong tokens from this address; retry in {retry_after} s",
            "errors": [],
        },
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def auth_middleware(
    identities: dict[str, Identity], failures_per_minute: int = 10
) -> Callable[..., Awaitable[web.StreamResponse]]:
    limiter = FailureLimiter(failures_per_minute)

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        identity = identify(identities, _presented_token(request))
        if identity is None:
            # The peer address: behind a reverse proxy that is the proxy's (limit there too).
            address = request.remote or "unknown"
            wait = limiter.retry_after(address)
            if wait:
                return too_many(wait)
            limiter.fail(address)
            return unauthorized()
        request[AGENT] = identity.name
        request[ROLE] = identity.role
        return await handler(request)

    return middleware
