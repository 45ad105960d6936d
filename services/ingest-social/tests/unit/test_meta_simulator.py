"""The Meta simulator speaks the platform's shape: what it builds, the service can read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from inbox_core.connector import RawRequest
from inbox_core.testing.http import simulator
from inbox_ingest_social.channels.facebook import Facebook, MetaConfig
from inbox_ingest_social.simulators.meta import build_message_event, create_app, encode, main, sign

SECRET = "sim-secret"
TOKEN = "sim-token"
PAGE = "104857600123456"
PSID = "6543210987654321"


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with simulator(create_app(SECRET, TOKEN)) as running:
        yield running


def test_built_event_is_read_by_the_channel(raw_request: Callable[..., RawRequest]) -> None:
    body = encode(
        build_message_event(
            PAGE, PSID, "배송지 변경 가능할까요?", mid="m_x", timestamp_ms=1_700_000_000_000
        )
    )
    channel = Facebook("*", MetaConfig(app_secret=SECRET))
    request = raw_request(body, {"X-Hub-Signature-256": sign(body, SECRET)})
    channel.verify(request)
    [message] = channel.normalise(request)
    assert (message.account, message.external_id, message.text) == (
        PAGE,
        "m_x",
        "배송지 변경 가능할까요?",
    )
    assert message.received_at.timestamp() == 1_700_000_000


async def test_send_api_refuses_a_bad_token_with_a_graph_error(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    body = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    async with http.post(
        f"{url}/v21.0/me/messages", params={"access_token": "nope"}, json=body
    ) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["type"] == "OAuthException" and error["code"] == 190
    assert error["message"] and error["fbtrace_id"]


@pytest.mark.parametrize("node", ["me", PAGE], ids=["me", "page_id"])
async def test_send_api_records_accepted_messages(
    node: str, sim: tuple[str, aiohttp.ClientSession]
) -> None:
    url, http = sim
    body = {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "감사합니다"},
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with http.post(f"{url}/v21.0/{node}/messages", json=body, headers=headers) as resp:
        answer = await resp.json()
    assert answer["recipient_id"] == PSID and answer["message_id"].startswith("m_")
    async with http.get(f"{url}/_sim/sent") as resp:
        [sent] = (await resp.json())["messages"]
    assert sent["node"] == node and sent["message"]["text"] == "감사합니다"


async def test_send_api_refuses_text_over_2000_chars(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    body = {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "a" * 2001},
    }
    async with http.post(
        f"{url}/v21.0/me/messages", params={"access_token": TOKEN}, json=body
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == 100


def test_main_requires_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEBOOK_APP_SECRET", raising=False)
    monkeypatch.delenv("FACEBOOK_PAGE_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--port", "0"])
    assert exit_.value.code == 2
