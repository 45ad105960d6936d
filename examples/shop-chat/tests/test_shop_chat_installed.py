"""A new channel package needs no edit outside itself: Shop Chat, installed, is picked up
by ingest-social (its webhook mounted, its replies sent), by `make demo` (its simulator
started and its customers writing) and by the console's badges (GET /api/channels).

"Installed" is what pip writes for it: a dist-info whose entry points and scripts are read
from this package's own pyproject.toml, on sys.path for this test only (the package's code
is importable through conftest.py, as an editable install would make it)."""

from __future__ import annotations

import asyncio
import os
import re
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import nats
import nats.js.errors
import pytest
from aiohttp import web
from nats.js import JetStreamContext

from inbox_core import subjects
from inbox_core.channels import ChannelRegistration, hosted_by, registered
from inbox_core.demo import Demo
from inbox_core.embedded import ManagedProcess, free_port, port_open, wait_until
from inbox_core.schema import (
    Customer,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    OutboundReply,
)
from inbox_core.testing.http import serve

PACKAGE = Path(__file__).resolve().parents[1]
SHOP = "shop-1"  # the simulator's shop, the account on the bus


def _dist_info(target: Path) -> None:
    """The dist-info pip writes for this package: METADATA and entry_points.txt."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    dist = target / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    groups = {**project.get("entry-points", {}), "console_scripts": project.get("scripts", {})}
    text = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items()) + "\n"
        for group, entries in groups.items()
    )
    (dist / "entry_points.txt").write_text(text)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChannelRegistration:
    assert "shop_chat" not in {c.name for c in registered()}, "only this fixture installs it"
    _dist_info(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return next(c for c in registered() if c.name == "shop_chat")


def test_the_registry_lists_it_for_its_service_after_the_others(
    installed: ChannelRegistration,
) -> None:
    names = [c.name for c in registered()]

    assert names[-1] == "shop_chat" and "kakao" in names  # the others are still there
    assert installed in hosted_by("ingest-social")
    assert installed.badge.labels == {"ko": "샵챗", "en": "Shop Chat"}


async def test_the_console_gets_its_badge(installed: ChannelRegistration) -> None:
    from inbox_notifier.api_channels import channels_api

    app = web.Application()
    channels_api.install(app)
    async with (
        serve(app) as url,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
        http.get(f"{url}/api/channels") as resp,
    ):
        assert resp.status == 200
        items = {c["name"]: c for c in (await resp.json())["items"]}
    assert items["shop_chat"] == {
        "name": "shop_chat",
        "service": "ingest-social",
        "labels": {"ko": "샵챗", "en": "Shop Chat"},
        "colour": "#7c3aed",
        "text_colour": "#ffffff",
        "simulator": True,
    }


# -- the demo's simulator, the service, the bus ---------------------------------------------


@pytest.fixture
def demo(installed: ChannelRegistration, tmp_path: Path) -> Iterator[Demo]:
    """`make demo`'s part for Shop Chat: its simulator started with its own command."""
    stack = SimpleNamespace(env={"INBOX_SOCIAL_PORT": str(free_port())}, data_dir=tmp_path)
    demo = Demo(stack, channels=[installed])  # type: ignore[arg-type]
    plan = demo.configure()
    assert [name for name, _, _ in plan] == ["sim-shop-chat"]
    _, port, command = plan[0]
    env = {**os.environ, "PYTHONPATH": str(PACKAGE / "src")}  # the package's own install
    proc = ManagedProcess("sim-shop-chat", command, tmp_path / "sim.log", env=env).start()
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 30, "sim-shop-chat", proc)
        yield demo
    finally:
        proc.stop()


@pytest.fixture
async def service(
    core_env: dict[str, str], demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Demo]:
    """ingest-social with the env the demo set, unchanged: it finds Shop Chat by itself."""
    from inbox_ingest_social.app import create_app
    from inbox_ingest_social.settings import SocialSettings

    for key, value in demo.stack.env.items():
        monkeypatch.setenv(key, value)
    runner = web.AppRunner(create_app(SocialSettings()))
    await asyncio.wait_for(runner.setup(), 60)
    try:
        port = int(demo.stack.env["INBOX_SOCIAL_PORT"])
        await asyncio.wait_for(web.TCPSite(runner, "127.0.0.1", port).start(), 10)
        yield demo
    finally:
        await asyncio.wait_for(runner.cleanup(), 30)


@pytest.fixture
async def js(core_env: dict[str, str]) -> AsyncIterator[JetStreamContext]:
    nc = await asyncio.wait_for(nats.connect(core_env["NATS_URL"]), 10)
    try:
        yield nc.jetstream(timeout=5)
    finally:
        await asyncio.wait_for(nc.close(), 10)


async def _last(js: JetStreamContext, stream: str, subject: str) -> bytes:
    async with asyncio.timeout(20):
        while True:
            try:
                return (await js.get_last_msg(stream, subject)).data or b""
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.1)


async def test_a_customer_reaches_the_bus_and_the_reply_reaches_the_customer(
    service: Demo, js: JetStreamContext
) -> None:
    site = service.sites["shop_chat"]
    customer = service.channels[0].simulator.customer  # type: ignore[union-attr]
    assert customer is not None
    await asyncio.wait_for(asyncio.to_thread(customer, site), 20)  # as `make demo` does

    raw = await _last(js, "INBOUND", subjects.inbound("shop_chat", SHOP))
    message = InboundMessage.from_json(raw)
    assert (message.channel, message.account) == ("shop_chat", SHOP)
    assert message.customer.id.startswith("shopper-") and message.text

    reply = OutboundReply(
        conversation_id="conv-shop-chat",
        channel="shop_chat",
        account=SHOP,
        customer=Customer(id=message.customer.id),
        text="주문 확인 후 안내드릴게요.",
        agent="minji",
    )
    await js.publish(
        subjects.outbound("shop_chat", SHOP),
        reply.to_json(),
        headers={"Nats-Msg-Id": f"reply:{reply.id}"},
        timeout=5,
    )
    report = DeliveryReport.from_json(
        await _last(js, "ROUTED", subjects.delivery("shop_chat", SHOP))
    )
    assert (report.status, report.error) == (DeliveryStatus.SENT, None)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
        http.get(f"{site.url}/_sim/sent") as resp,
    ):
        sent: list[dict[str, Any]] = (await resp.json())["messages"]
    assert [(m["to"], m["text"]) for m in sent] == [(message.customer.id, reply.text)]
