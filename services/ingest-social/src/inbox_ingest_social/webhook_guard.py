"""What happens before the SDK sees a webhook: counting, the IP allow-list, the size limit.

Naver TalkTalk signs nothing (shared/channels/naver-talktalk.md §2); its calls come from a
few published address ranges, so `NAVER_TALKTALK_ALLOWED_IPS` can restrict the webhook to
them. The check uses the TCP peer address: behind a reverse proxy, enforce the list at the
proxy instead (the service then sees only the proxy's address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

from inbox_core import metrics as core_metrics
from inbox_core.logging import get_logger
from inbox_ingest_social import metrics

log = get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def peer_allowed(remote: str | None, networks: Sequence[Network]) -> bool:
    """Whether `remote` (an IP address as text) lies in one of `networks`."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


def webhook_guard(
    channels: Mapping[str, str], allow_lists: Mapping[str, Sequence[Network]]
) -> Middleware:
    """Middleware for POSTs on the webhook paths. `channels` maps path → channel id;
    `allow_lists` maps channel id → networks (absent or empty: every address)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        channel = channels.get(request.path)
        if channel is None or request.method != "POST":
            return await handler(request)
        metrics.WEBHOOK_REQUESTS.labels(channel).inc()
        networks = allow_lists.get(channel)
        if networks and not peer_allowed(request.remote, networks):
            core_metrics.CONNECTOR_REJECTED.labels(channel, "ip_not_allowed").inc()
            log.warning("webhook from an address not allowed", channel=channel)
            return web.json_response(
                {"error": "forbidden", "detail": "source address not allowed"}, status=403
            )
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            core_metrics.CONNECTOR_REJECTED.labels(channel, "too_large").inc()
            raise

    return guard
