"""The Kakao simulator keeps Kakao's rules: skill response shape, 5-second limit, single-use
callbacks and the dealer's credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from inbox_core.testing.http import simulator
from inbox_ingest_social.simulators import kakao
from inbox_ingest_social.simulators.kakao import create_app, main, validate_skill_response

TEXT = {"simpleText": {"text": "문의 접수되었습니다"}}
RESPONSES = {
    "simple_text": ({"version": "2.0", "template": {"outputs": [TEXT]}}, False, []),
    "three_outputs": ({"version": "2.0", "template": {"outputs": [TEXT] * 3}}, False, []),
    "four_outputs": ({"version": "2.0", "template": {"outputs": [TEXT] * 4}}, False, ["1 to 3"]),
    "no_version": ({"template": {"outputs": [TEXT]}}, False, ["version"]),
    "old_version": ({"version": "1.0", "template": {"outputs": [TEXT]}}, False, ["version"]),
    "text_over_1000": (
        {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "가" * 1001}}]}},
        False,
        ["1 to 1000"],
    ),
    "eleven_quick_replies": (
        {"version": "2.0", "template": {"outputs": [TEXT], "quickReplies": [{}] * 11}},
        False,
        ["at most 10"],
    ),
    "use_callback_enabled": ({"version": "2.0", "useCallback": True}, True, []),
    "use_callback_not_enabled": ({"version": "2.0", "useCallback": True}, False, ["callback"]),
    "not_an_object": ([], False, ["not a JSON object"]),
}


@pytest.mark.parametrize(("body", "callback", "problems"), RESPONSES.values(), ids=RESPONSES.keys())
def test_skill_response_rules(body: Any, callback: bool, problems: list[str]) -> None:
    found = validate_skill_response(body, callback_enabled=callback)
    assert len(found) == len(problems)
    for got, expected in zip(found, problems, strict=True):
        assert expected in got


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with simulator(
        create_app("tok", client_id="id", client_secret="s", sender_key="k")
    ) as running:
        yield running


@pytest.fixture
async def slow_skill() -> AsyncIterator[str]:
    """A skill server that never answers in time."""
    release = asyncio.Event()

    async def handler(_: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 10)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/skill", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/skill"))
    finally:
        release.set()
        await server.close()


async def test_slow_skill_server_gets_kakao_timeout(slow_skill: str) -> None:
    app = create_app("tok")
    app[kakao.STATE].skill_timeout_s = 0.2
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            spec = {"target": slow_skill, "utterance": "안녕하세요"}
            async with http.post(server.make_url("/_sim/utter"), json=spec) as resp:
                answer = await resp.json()
    finally:
        await server.close()
    assert answer["status"] is None and "1001" in answer["problems"][0]


async def _callback(url: str, http: aiohttp.ClientSession) -> str:
    spec = {"target": f"{url}/nowhere", "utterance": "반품", "callback": True}
    async with http.post(f"{url}/_sim/utter", json=spec) as resp:
        return str((await resp.json())["callback_url"])


async def test_callback_url_works_once(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    callback = await _callback(url, http)
    body = {"version": "2.0", "template": {"outputs": [TEXT]}}
    async with http.post(callback, json=body) as resp:
        first = (resp.status, (await resp.json())["status"])
    async with http.post(callback, json=body) as resp:
        second = (resp.status, await resp.json())
    assert first == (200, "SUCCESS")
    assert second[0] == 400 and second[1]["status"] == "FAIL"
    assert "Invalid callback token" in second[1]["message"]


async def test_callback_refuses_an_invalid_skill_response(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback(url, http)
    async with http.post(callback, json={"template": {}}) as resp:
        answer = await resp.json()
    assert answer["status"] == "FAIL" and "Invalid json" in answer["message"]


async def test_dealer_api_needs_both_credentials(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    body = {
        "user_key": "T8x9DhjAiBrv",
        "sender_key": "k",
        "serial_number": "s1",
        "message_type": "TX",
        "message": "안녕하세요",
    }
    headers = {"HT-Client-Id": "id", "HT-Client-Secret": "wrong"}
    async with http.post(f"{url}/v1/chat/write", json=body, headers=headers) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == "401"


def test_main_refuses_a_zero_callback_ttl() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--port", "0", "--callback-ttl", "0"])
    assert exit_.value.code == 2
