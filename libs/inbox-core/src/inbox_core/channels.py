"""The channel registry: every channel declares itself through the entry point group
`inbox.channels` of its own package, and is found there by its service, by `make demo` and
by the console's badges. A new channel package needs no edit anywhere else.

In the channel package's pyproject.toml:

    [project.entry-points."inbox.channels"]
    shop_chat = "shop_chat.registry:CHANNEL"

where `CHANNEL` is a `ChannelRegistration`: the channel id, the service that hosts it, the
console badge, how the service builds it (`setup`) and, optionally, its simulator for
`make demo`. Keep the module that holds it cheap to import (the notifier loads every
registration for the badges): import the channel's code inside `setup`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from inbox_core.logging import get_logger

if TYPE_CHECKING:
    import ipaddress

    from inbox_core.connector import Channel, PollingChannel, WebhookChannel
    from inbox_core.runtime import Runtime
    from inbox_core.settings import ServiceSettings

log = get_logger(__name__)

GROUP: Final = "inbox.channels"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Badge:
    """How the console shows the channel: its name per language and its colours."""

    labels: Mapping[str, str]  # language → label, e.g. {"ko": "카카오톡", "en": "KakaoTalk"}
    colour: str  # background, "#rrggbb"
    text_colour: str = "#ffffff"


@dataclass
class Host:
    """What a service hands a channel's `setup`."""

    runtime: Runtime
    settings: ServiceSettings  # the service's settings; a channel may read its own env too
    shared: Mapping[str, Any] = field(default_factory=dict)  # objects the service offers
    # The state of a webhook for health: "mounted", "closed: … not set", …
    webhook_state: Callable[[str], str] = lambda _name: "mounted"


@dataclass
class ChannelSetup:
    """What a channel gives its service: routes to mount, accounts to poll, replies."""

    webhooks: list[WebhookChannel] = field(default_factory=list)
    pollers: list[PollingChannel] = field(default_factory=list)
    # account → channel that sends a reply (a Mapping may make channels on first use).
    replies: Mapping[str, Channel] | None = None
    # A webhook stays closed (404) while this variable is unset: e.g. "KAKAO_SKILL_TOKEN".
    missing_secret: str | None = None
    # Source networks allowed to call the webhooks (None: any).
    allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
    # Why the channel is off (no account configured); shown in /healthz.
    disabled: str | None = None
    checks: dict[str, HealthCheck] = field(default_factory=dict)  # extra /healthz entries


@dataclass
class DemoSite:
    """What a simulator sees in `make demo`: the services' environment (set what the
    channel's service needs there), a free port for the simulator, and the data dir."""

    env: dict[str, str]
    port: int
    data_dir: Path
    rng: random.Random = field(default_factory=random.Random)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_url(self, port_env: str, default: int) -> str:
        return f"http://127.0.0.1:{self.env.get(port_env) or default}"


@dataclass(frozen=True)
class Simulator:
    """A channel's part in `make demo`. `start` sets the env the channel's service needs to
    talk to the simulator and returns the simulator's command (None: nothing to run);
    `customer` sends one simulated customer message through it; `weight` is its share of
    the demo's traffic."""

    start: Callable[[DemoSite], list[str] | None]
    customer: Callable[[DemoSite], None] | None = None
    weight: int = 1


@dataclass(frozen=True)
class ChannelRegistration:
    name: str  # the channel id of DESIGN.md (lower snake case), as on the bus
    service: str  # the service that hosts it, e.g. "ingest-social"
    badge: Badge
    setup: Callable[[Host], ChannelSetup] | None = None  # None: the service builds it itself
    simulator: Simulator | None = None
    order: int = 100  # where the console lists it (then by name)
    # For a service that reads its accounts from a list (ingest-marketplace's
    # INBOX_MARKET_ACCOUNTS): returns the pydantic model of one entry of this channel, whose
    # `platform` field defaults to the channel id. A function, so that the model is imported
    # only by the service that parses accounts.
    account_model: Callable[[], type[Any]] | None = None

    def public(self) -> dict[str, Any]:
        """What the console needs (GET /api/channels)."""
        return {
            "name": self.name,
            "service": self.service,
            "labels": dict(self.badge.labels),
            "colour": self.badge.colour,
            "text_colour": self.badge.text_colour,
            "simulator": self.simulator is not None,
        }


class RegistryError(ValueError):
    """An `inbox.channels` entry point that does not name a valid ChannelRegistration."""


def _check(entry: EntryPoint, spec: object) -> ChannelRegistration:
    where = f"entry point {entry.name} = {entry.value} ({GROUP})"
    if not isinstance(spec, ChannelRegistration):
        raise RegistryError(f"{where}: is a {type(spec).__name__}, not a ChannelRegistration")
    if spec.name != entry.name:
        raise RegistryError(f"{where}: names the channel {spec.name!r}, not {entry.name!r}")
    if not _NAME.match(spec.name):
        raise RegistryError(f"{where}: channel id must be lower snake case (max 32)")
    for colour in (spec.badge.colour, spec.badge.text_colour):
        if not _COLOUR.match(colour):
            raise RegistryError(f"{where}: colour {colour!r} is not #rrggbb")
    if not spec.badge.labels:
        raise RegistryError(f"{where}: the badge needs at least one label")
    return spec


def registered() -> list[ChannelRegistration]:
    """Every channel installed in this environment, by `order` then name. A broken entry
    point raises RegistryError naming it (a channel that silently vanished would lose
    messages)."""
    specs: dict[str, ChannelRegistration] = {}
    for entry in entry_points(group=GROUP):
        try:
            loaded = entry.load()
        except Exception as err:
            raise RegistryError(f"entry point {entry.name} = {entry.value}: {err!r}") from err
        spec = _check(entry, loaded)
        if spec.name in specs and specs[spec.name] is not spec:
            raise RegistryError(f"channel {spec.name!r} is registered twice ({entry.value})")
        specs[spec.name] = spec
    return sorted(specs.values(), key=lambda spec: (spec.order, spec.name))


def hosted_by(service: str) -> list[ChannelRegistration]:
    """The channels a service runs. None at all means the packages were installed without
    their entry points (an editable install from before they were declared): a clear
    error rather than a service that silently takes no messages."""
    hosted = [spec for spec in registered() if spec.service == service]
    if not hosted:
        raise RegistryError(
            f"no channel is registered for {service} (entry points {GROUP}): "
            "reinstall the packages (make install)"
        )
    return hosted


class AnyAccount(Mapping[str, "Channel"]):
    """account → channel for any account key, made on first use (one token, many pages or
    bots): `ChannelSetup.replies` of a webhook channel. The channel itself refuses, with a
    reason, what it cannot send."""

    def __init__(self, factory: Callable[[str], Channel]) -> None:
        self._factory = factory
        self._made: dict[str, Channel] = {}

    def __getitem__(self, account: str) -> Channel:
        channel = self._made.get(account)
        if channel is None:
            channel = self._made[account] = self._factory(account)
        return channel

    def __iter__(self) -> Iterator[str]:
        return iter(self._made)

    def __len__(self) -> int:
        return len(self._made)
