"""The TalkTalk simulator keeps TalkTalk's rules: raw `Authorization`, errors as HTTP 200 with a
resultCode, one content per event, and an echo of every send to the webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from inbox_core.testing.http import simulator
from inbox_ingest_social.simulators.naver_talktalk import create_app, main

TOKEN = "ct_wc8b1i_sim"


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook that records what TalkTalk posts to it."""
    received: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/hook")), received
    finally:
        await server.close()


@pytest.fixture
async def sim(
    webhook: tuple[str, list[dict[str, Any]]],
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with simulator(create_app(TOKEN, webhook=webhook[0])) as running:
        yield running


SENDS = {
    "accepted": (TOKEN, {"event": "send", "user": "u1", "textContent": {"text": "네"}}, "00"),
    "bearer_prefix_refused": (
        f"Bearer {TOKEN}",
        {"event": "send", "user": "u1", "textContent": {"text": "네"}},
        "01",
    ),
    "no_user": (TOKEN, {"event": "send", "textContent": {"text": "네"}}, "02"),
    "two_contents": (
        TOKEN,
        {
            "event": "send",
            "user": "u1",
            "textContent": {"text": "네"},
            "imageContent": {"imageUrl": "https://x/a.png"},
        },
        "02",
    ),
    "text_over_10000": (
        TOKEN,
        {"event": "send", "user": "u1", "textContent": {"text": "가" * 10_001}},
        "99",
    ),
}


@pytest.mark.parametrize(("key", "body", "code"), SENDS.values(), ids=SENDS.keys())
async def test_send_api_result_codes(
    key: str, body: dict[str, Any], code: str, sim: tuple[str, aiohttp.ClientSession]
) -> None:
    url, http = sim
    headers = {"Authorization": key}
    async with http.post(f"{url}/chatbot/v1/event", json=body, headers=headers) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert (answer["success"], answer["resultCode"]) == (code == "00", code)


async def test_every_send_is_echoed_to_the_webhook(
    sim: tuple[str, aiohttp.ClientSession], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, http = sim
    body = {"event": "send", "user": "u1", "textContent": {"text": "교환 접수되었습니다"}}
    async with http.post(
        f"{url}/chatbot/v1/event", json=body, headers={"Authorization": TOKEN}
    ) as resp:
        assert (await resp.json())["success"] is True
    [echo] = webhook[1]
    assert (echo["event"], echo["echoedEvent"], echo["user"]) == ("echo", "send", "u1")
    assert echo["textContent"] == {"text": "교환 접수되었습니다"}


def test_main_requires_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAVER_TALKTALK_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--port", "0"])
    assert exit_.value.code == 2
