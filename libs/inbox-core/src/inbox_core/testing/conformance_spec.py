"""What a channel tells the conformance suite about itself: a `ChannelSpec` with its
normalise, and its `verify`, `send` and `poll` parts (or `Exempt` with the reason)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import aiohttp

from inbox_core.connector import Channel, PollingChannel, WebhookChannel
from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import InboundMessage
from inbox_core.testing.fixture_pairs import Fixture, webhook_request


@dataclass(frozen=True)
class Exempt:
    """A part of the suite that does not apply to a channel, with the reason written down."""

    reason: str


@dataclass(frozen=True)
class Verify:
    """How the platform makes a webhook call authentic.

    `channel` is configured with its secret; `sign(body)` gives the headers the platform
    adds to that body (signature or token). `signs_body=False` for a shared token that does
    not cover the body (then a changed body is not a tamper `verify` can see)."""

    channel: WebhookChannel
    sign: Callable[[bytes], Mapping[str, str]]
    signs_body: bool = True
    path: str = "/webhook"


class SendFault(StrEnum):
    """The platform errors every channel maps the same way."""

    RATE_LIMITED = "rate_limited"  # HTTP 429 with Retry-After: 7 (or the platform's form)
    SERVER_ERROR = "server_error"  # HTTP 500
    UNAVAILABLE = "unavailable"  # HTTP 503 (maintenance, overload)
    REFUSED = "refused"  # HTTP 400: this reply can never be delivered as it is
    CREDENTIALS_REFUSED = "credentials_refused"  # HTTP 401: reported failed, with the reason


RETRY_AFTER_S: Final = 7.0
SEND_EXPECTED: Final[dict[SendFault, type[Exception]]] = {
    SendFault.RATE_LIMITED: TransientError,
    SendFault.SERVER_ERROR: TransientError,
    SendFault.UNAVAILABLE: TransientError,
    SendFault.REFUSED: PermanentError,
    # inbox_core.http: a reply refused for its credentials is reported `failed` (the agent
    # reads why); retrying the same token cannot help.
    SendFault.CREDENTIALS_REFUSED: PermanentError,
}


@dataclass
class SendPlatform:
    """A running simulator for `send`: what `ChannelSpec.send` yields.

    `channel_at(url)` builds the channel with its platform API at `url` (a closed port for
    the unreachable case); `fail(fault, http)` makes every following send call fail as the
    real platform does (status and error body); `reply` is a reply the channel can deliver."""

    url: str
    channel_at: Callable[[str], Channel]
    reply: Any  # OutboundReply
    fail: Callable[[SendFault, aiohttp.ClientSession], Awaitable[None]]
    closed_url: str | None = None  # default: http://127.0.0.1:<a port nothing listens on>
    honours_retry_after: bool = True


@dataclass(frozen=True)
class SendError:
    """A platform-specific error: `program(platform, http)` sets it up on the simulator;
    `expected` is the error class send must raise (and `retry_after` when it must carry one)."""

    program: Callable[[SendPlatform, aiohttp.ClientSession], Awaitable[None]]
    expected: type[Exception]
    retry_after: float | None = None


@dataclass
class PollPlatform:
    """A running simulator for `poll`: what `ChannelSpec.poll` yields.

    `channel` polls the simulator's `board`; `add(n)` puts n new customer items on the
    platform; `position(state)` is a comparable value of how far a stored cursor state (the
    JSON the runner saves) has read."""

    channel: PollingChannel
    board: str
    add: Callable[[int], Awaitable[None]]
    position: Callable[[Mapping[str, Any]], Any]
    max_pages: int = 20


# Zero arguments, or the test's pytest.FixtureRequest (to use fixtures: a store, a server).
SendFactory = Callable[..., AbstractAsyncContextManager[SendPlatform]]
PollFactory = Callable[..., AbstractAsyncContextManager[PollPlatform]]


@dataclass(frozen=True)
class ChannelSpec:
    """Everything the suite needs to know about one channel.

    - `normalise(fixture)`: the channel's pure normalise on the fixture's raw bytes; for a
      webhook channel `webhook_normalise(channel)` builds it from the channel's own hook.
    - `verify`, `send`, `poll`: the parts the channel has, or `Exempt("why")`.
    """

    name: str
    fixtures: Path
    normalise: Callable[[Fixture], list[InboundMessage]]
    verify: Verify | Exempt
    send: SendFactory | Exempt
    poll: PollFactory | Exempt
    send_errors: Mapping[str, SendError] = field(default_factory=dict)
    min_fixtures: int = 3
    # A check the channel is known to fail today, e.g. {"send:credentials_refused": "why"}:
    # reported as xfail with the reason; once it passes the test fails, asking to remove it.
    known_gaps: Mapping[str, str] = field(default_factory=dict)


def webhook_normalise(channel: WebhookChannel) -> Callable[[Fixture], list[InboundMessage]]:
    """`normalise` of a webhook channel: the fixture's body as a RawRequest to the hook."""
    return lambda fixture: channel.normalise(webhook_request(fixture))
