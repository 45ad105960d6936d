"""`make demo`'s wiring, for real: the simulators the channels register, started with their
own commands, the service with the environment the demo sets, replies sent over the bus.
An agent's Kakao reply must reach the simulated 상담톡 dealer (it used to be POSTed to the
simulator's base URL and fail with 404) and a TalkTalk customer must get through the
webhook's allow-list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inbox_core.demo import Demo
from inbox_core.embedded import ManagedProcess, free_port, port_open, wait_until
from inbox_core.schema import Customer, DeliveryStatus, OutboundReply
from inbox_ingest_social.app import create_app
from inbox_ingest_social.settings import SocialSettings

NEEDED = ("sim-kakao", "sim-naver-talktalk")


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo's simulators for Kakao and TalkTalk, as `make demo` starts them."""
    social_port = free_port()
    stack = SimpleNamespace(env={"INBOX_SOCIAL_PORT": str(social_port)}, data_dir=tmp_path)
    demo = Demo(stack)  # type: ignore[arg-type]
    plan = {name: (port, cmd) for name, port, cmd in demo.configure()}
    procs = []
    try:
        for name in NEEDED:
            port, cmd = plan[name]
            proc = ManagedProcess(name, cmd, tmp_path / f"{name}.log").start()
            procs.append(proc)
            wait_until(lambda p=port: port_open("127.0.0.1", p), 30, name, proc)
        urls = {name: site.url for name, site in demo.sites.items()}
        yield {"env": stack.env, "urls": urls, "social_port": social_port}
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture
async def demo_service(
    core_env: dict[str, str], demo_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[dict[str, Any]]:
    for key, value in demo_env["env"].items():
        monkeypatch.setenv(key, value)
    runner = web.AppRunner(create_app(SocialSettings()))
    await asyncio.wait_for(runner.setup(), 60)
    try:
        site = web.TCPSite(runner, "127.0.0.1", demo_env["social_port"])
        await asyncio.wait_for(site.start(), 10)
        yield demo_env
    finally:
        await asyncio.wait_for(runner.cleanup(), 30)


async def _json(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    async with http.request(method, url, json=body) as resp:
        return await resp.json()


async def test_demo_kakao_agent_reply_reaches_the_consult_talk_simulator(
    demo_service: dict[str, Any], streams: Any, http: aiohttp.ClientSession
) -> None:
    sim = demo_service["urls"]["kakao"]
    answer = await _json(
        http, "POST", f"{sim}/_sim/utter", {"utterance": "교환하고 싶어요", "user_key": "demo1"}
    )
    assert answer["status"] == 200, answer
    message, _ = await streams.inbound("kakao", message_account := "5ae9b76d7409b11ec845b746")
    reply = OutboundReply(
        conversation_id="conv-demo-kakao",
        channel="kakao",
        account=message_account,
        customer=Customer(id=message.customer.id),
        text="교환 신청 도와드릴게요.",
        agent="minji",
    )
    await streams.reply(reply)
    report = await streams.report("kakao", message_account)
    assert (report.status, report.error) == (DeliveryStatus.SENT, None)
    shown = (await _json(http, "GET", f"{sim}/_sim/sent"))["messages"]
    assert [(s["via"], s["texts"]) for s in shown if s["via"] == "consult"] == [
        ("consult", ["교환 신청 도와드릴게요."])
    ]


async def test_demo_talktalk_customer_gets_through_and_is_answered(
    demo_service: dict[str, Any], streams: Any, http: aiohttp.ClientSession
) -> None:
    sim = demo_service["urls"]["naver_talktalk"]
    answer = await _json(
        http, "POST", f"{sim}/_sim/deliver", {"event": "send", "user": "u1", "text": "안녕하세요"}
    )
    assert answer["status"] == 200, answer
    message, _ = await streams.inbound("naver_talktalk", "talktalk")
    reply = OutboundReply(
        conversation_id="conv-demo-tt",
        channel="naver_talktalk",
        account="talktalk",
        customer=Customer(id=message.customer.id),
        text="네, 안녕하세요!",
        agent="minji",
    )
    await streams.reply(reply)
    report = await streams.report("naver_talktalk", "talktalk")
    assert report.status == DeliveryStatus.SENT, report.error
    shown = (await _json(http, "GET", f"{sim}/_sim/sent"))["messages"]
    assert [s["content"] for s in shown if s["via"] == "send_api"] == [
        {"textContent": {"text": "네, 안녕하세요!"}}
    ]
