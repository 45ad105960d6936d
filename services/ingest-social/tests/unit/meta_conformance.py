"""What Facebook and Instagram share for the conformance suite: the signature and the
Meta simulator programmed with Graph API errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from inbox_core.connector import Channel
from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import Customer, OutboundReply
from inbox_core.testing.conformance import (
    ChannelSpec,
    Exempt,
    SendError,
    SendFault,
    SendPlatform,
    Verify,
    webhook_normalise,
)
from inbox_core.testing.http import serve
from inbox_ingest_social.channels.facebook import (
    SIGNATURE_HEADER,
    Facebook,
    MetaConfig,
    expected_signature,
)
from inbox_ingest_social.simulators.meta import create_app

SECRET = "app-secret-for-conformance"
TOKEN = "EAAGm0PX4ZCpsBAsimulatedpagetoken"
PSID = "6543210987654321"
NOW = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parents[1] / "fixtures"
# Graph API errors as Meta answers them (shared/channels/meta.md): status and error code.
FAULTS: dict[SendFault, dict[str, Any]] = {
    SendFault.RATE_LIMITED: {"status": 429, "code": 613, "retry_after": 7},
    SendFault.SERVER_ERROR: {"status": 500, "code": 1},
    SendFault.UNAVAILABLE: {"status": 503, "code": 2},
    SendFault.REFUSED: {"status": 400, "code": 100, "message": "Invalid parameter"},
    SendFault.CREDENTIALS_REFUSED: {"status": 401, "code": 190},
}


def _graph_error(**spec: Any) -> Callable[[SendPlatform, aiohttp.ClientSession], Any]:
    async def program(platform: SendPlatform, http: aiohttp.ClientSession) -> None:
        async with http.post(f"{platform.url}/_sim/fail", json={"count": 5, **spec}) as resp:
            assert resp.status == 200

    return program


# Meta's own codes: a rate limit answered with HTTP 400 is still worth retrying.
GRAPH_ERRORS = {
    "rate_limit_613_on_http_400": SendError(_graph_error(status=400, code=613), TransientError),
    "page_limit_32_on_http_400": SendError(_graph_error(status=400, code=32), TransientError),
    "user_unavailable_551": SendError(_graph_error(status=400, code=551), PermanentError),
    "token_expired_190": SendError(_graph_error(status=400, code=190), PermanentError),
    "regain_access_estimate": SendError(
        _graph_error(status=400, code=4, regain_minutes=2), TransientError, retry_after=120.0
    ),
}


def meta_platform(
    cls: type[Facebook], account: str
) -> Callable[[], AbstractAsyncContextManager[SendPlatform]]:
    @asynccontextmanager
    async def platform() -> AsyncIterator[SendPlatform]:
        async with serve(create_app(SECRET, TOKEN)) as url:

            def channel_at(base: str) -> Channel:
                config = MetaConfig(page_token=TOKEN, graph_url=f"{base}/v21.0")
                return cls(account, config, clock=lambda: NOW)

            async def fail(fault: SendFault, http: aiohttp.ClientSession) -> None:
                await _graph_error(**FAULTS[fault])(SendPlatform(url, channel_at, None, fail), http)

            reply = OutboundReply(
                conversation_id="conv-42",
                channel=cls.name,
                account=account,
                customer=Customer(id=PSID),
                text="주문하신 니트는 오늘 오후 5시에 출고됩니다.",
                agent="민지",
                context={"last_customer_message_at": (NOW - timedelta(minutes=5)).isoformat()},
            )
            yield SendPlatform(url, channel_at, reply, fail)

    return platform


def meta_spec(cls: type[Facebook], account: str) -> ChannelSpec:
    return ChannelSpec(
        name=cls.name,
        fixtures=FIXTURES / cls.name,
        normalise=webhook_normalise(cls("*", MetaConfig(app_secret=SECRET))),
        verify=Verify(
            cls("*", MetaConfig(app_secret=SECRET)),
            sign=lambda body: {SIGNATURE_HEADER: expected_signature(body, SECRET)},
            path=f"/webhooks/{cls.name}",
        ),
        send=meta_platform(cls, account),
        poll=Exempt("Meta pushes webhooks; there is nothing to poll"),
        send_errors=GRAPH_ERRORS,
        min_fixtures=1 if cls.name == "instagram" else 3,
    )
