"""Kakao replies against the simulator over real HTTP: the callback while it is valid, the
상담톡 sender otherwise, and a clear refusal when neither can carry the reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from inbox_core.embedded import free_port
from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import Attachment, Customer, OutboundReply
from inbox_core.testing.http import simulator
from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig
from inbox_ingest_social.channels.kakao_senders import ConsultTalkSender
from inbox_ingest_social.simulators.kakao import create_app

BOT = "5ae9b76d7409b11ec845b746"
USER_KEY = "T8x9DhjAiBrv"
CLIENT_ID, SECRET, PROFILE_KEY = "ht-client", "ht-secret-토큰", "a" * 40
NOW = datetime(2025, 11, 20, 6, 30, 20, tzinfo=UTC)


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    app = create_app(None, client_id=CLIENT_ID, client_secret=SECRET, sender_key=PROFILE_KEY)
    async with simulator(app) as running:
        yield running


def _sender(url: str, **overrides: str) -> ConsultTalkSender:
    fields = {"client_id": CLIENT_ID, "secret": SECRET, "sender_key": PROFILE_KEY, **overrides}
    return ConsultTalkSender(url=f"{url}/v1/chat/write", **fields)


def _kakao(url: str, *, sender: ConsultTalkSender | None = None, now: datetime = NOW) -> Kakao:
    config = KakaoConfig(callback_hosts=("127.0.0.1",), allow_local=True)  # the simulator
    return Kakao(BOT, config, sender=sender, clock=lambda: now)


def _reply(
    text: str = "반품 접수 도와드릴게요. 주문번호 확인했습니다.", **context: Any
) -> OutboundReply:
    return OutboundReply(
        conversation_id="conv-7",
        channel="kakao",
        account=BOT,
        customer=Customer(id=context.pop("customer_id", USER_KEY)),
        text=text,
        agent="auto",
        context=context,
    )


async def _callback_url(url: str, http: aiohttp.ClientSession, user_key: str = USER_KEY) -> str:
    """Make the simulator hand out a callback URL, as it does with a callback-enabled block."""
    spec = {"target": f"http://127.0.0.1:{free_port()}/nowhere", "utterance": "반품 문의"}
    async with http.post(
        f"{url}/_sim/utter", json={**spec, "callback": True, "user_key": user_key}
    ) as resp:
        return str((await resp.json())["callback_url"])


def _valid_until(minutes: float = 1) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


async def _shown(url: str, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get(f"{url}/_sim/sent") as resp:
        return list((await resp.json())["messages"])


async def test_reply_with_valid_callback_goes_through_the_callback(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    reply = _reply(kakao_callback_url=callback, kakao_callback_expires_at=_valid_until())
    result = await _kakao(url).send(reply, http)
    [shown] = await _shown(url, http)
    assert shown == {**shown, "via": "callback", "user_key": USER_KEY, "texts": [reply.text]}
    assert result.external_id  # Kakao's taskId


async def test_long_reply_through_callback_is_split_into_bubbles(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    text = "가" * 900 + "\n" + "나" * 900
    reply = _reply(text, kakao_callback_url=callback, kakao_callback_expires_at=_valid_until())
    await _kakao(url).send(reply, http)
    [shown] = await _shown(url, http)
    assert shown["texts"] == ["가" * 900, "나" * 900]


async def test_expired_callback_falls_to_the_sender(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    reply = _reply(kakao_callback_url=callback, kakao_callback_expires_at=_valid_until(-0.1))
    result = await _kakao(url, sender=_sender(url)).send(reply, http)
    [shown] = await _shown(url, http)
    assert (shown["via"], shown["texts"]) == ("consult", [reply.text])
    assert result.external_id == reply.id[:30]


async def test_callback_refused_by_kakao_falls_to_the_sender(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    async with http.post(f"{url}/_sim/expire_callbacks") as resp:
        assert resp.status == 200
    reply = _reply(kakao_callback_url=callback, kakao_callback_expires_at=_valid_until())
    await _kakao(url, sender=_sender(url)).send(reply, http)
    assert [s["via"] for s in await _shown(url, http)] == ["consult"]


async def test_callback_is_single_use(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    context = {"kakao_callback_url": callback, "kakao_callback_expires_at": _valid_until()}
    channel = _kakao(url, sender=_sender(url))
    await channel.send(_reply("첫 번째 답변", **context), http)
    await channel.send(_reply("두 번째 답변", **context), http)
    shown = await _shown(url, http)
    assert [(s["via"], s["texts"]) for s in shown] == [
        ("callback", ["첫 번째 답변"]),
        ("consult", ["두 번째 답변"]),
    ]


async def test_refused_callback_without_sender_says_why(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    async with http.post(f"{url}/_sim/expire_callbacks") as resp:
        assert resp.status == 200
    reply = _reply(kakao_callback_url=callback, kakao_callback_expires_at=_valid_until())
    with pytest.raises(PermanentError) as err:
        await _kakao(url).send(reply, http)
    assert "KAKAO_SENDER_URL" in str(err.value)
    assert "Invalid callback token" in str(err.value)


async def test_agent_reply_without_sender_is_refused_with_a_clear_reason(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    with pytest.raises(PermanentError) as err:
        await _kakao(url).send(_reply(), http)
    message = str(err.value)
    assert "no free message" in message and "KAKAO_SENDER_URL" in message
    assert await _shown(url, http) == []


async def test_callback_on_a_host_not_allowed_is_never_posted(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    channel = Kakao(BOT, KakaoConfig(), clock=lambda: NOW)  # default hosts: kakao.com only
    reply = _reply(kakao_callback_url=callback, kakao_callback_expires_at=_valid_until())
    with pytest.raises(PermanentError, match="KAKAO_CALLBACK_HOSTS"):
        await channel.send(reply, http)
    assert await _shown(url, http) == []


async def test_unreachable_callback_is_retried_soon(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    _, http = sim
    dead = f"http://127.0.0.1:{free_port()}/v1/bots/{BOT}/callback/x"
    reply = _reply(kakao_callback_url=dead, kakao_callback_expires_at=_valid_until())
    with pytest.raises(TransientError) as err:
        await _kakao("unused").send(reply, http)
    assert err.value.retry_after == 1.0


# -- the 상담톡 sender ----------------------------------------------------------------------


async def _utter(url: str, http: aiohttp.ClientSession, user_key: str = USER_KEY) -> None:
    """The customer writes to the channel: the dealer then has a session for them."""
    await _callback_url(url, http, user_key)


async def test_sender_delivers_through_the_dealer_api(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    await _utter(url, http)
    reply = _reply("교환 신청 링크 보내드릴게요.")
    result = await _kakao(url, sender=_sender(url)).send(reply, http)
    [shown] = await _shown(url, http)
    assert (shown["via"], shown["user_key"], shown["texts"]) == ("consult", USER_KEY, [reply.text])
    assert result.external_id == reply.id[:30]


SENDER_FAILURES = {
    "no_session": ({}, PermanentError, "8012"),
    "wrong_secret": ({"secret": "nope"}, PermanentError, "HTTP 401"),
    "wrong_profile_key": ({"sender_key": "b" * 40}, PermanentError, "code 403"),
}


@pytest.mark.parametrize(
    ("overrides", "kind", "text"), SENDER_FAILURES.values(), ids=SENDER_FAILURES.keys()
)
async def test_dealer_refusals_are_permanent_with_the_dealer_reason(
    overrides: dict[str, str],
    kind: type[Exception],
    text: str,
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    if overrides:
        await _utter(url, http)
    with pytest.raises(kind, match=text):
        await _kakao(url, sender=_sender(url, **overrides)).send(_reply(), http)
    assert await _shown(url, http) == []


async def test_dealer_outage_is_retried_then_delivered(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    await _utter(url, http)
    async with http.post(f"{url}/_sim/fail", json={"status": 503, "code": "503"}) as resp:
        assert resp.status == 200
    channel = _kakao(url, sender=_sender(url))
    with pytest.raises(TransientError, match="503"):
        await channel.send(_reply(), http)
    await channel.send(_reply(), http)
    assert len(await _shown(url, http)) == 1


LOCAL_REFUSALS = {
    "bot_user_key_only": ({"customer_id": "226f81aef15e8f5890425bbeaa5978d5"}, "plusfriendUserKey"),
    "over_1000_chars": ({"text": "가" * 1001}, "at most 1000"),
    "empty": ({"text": "  "}, "empty"),
}


@pytest.mark.parametrize(("spec", "text"), LOCAL_REFUSALS.values(), ids=LOCAL_REFUSALS.keys())
async def test_sender_refuses_what_the_dealer_cannot_take(
    spec: dict[str, str], text: str, sim: tuple[str, aiohttp.ClientSession]
) -> None:
    url, http = sim
    reply_text = spec.pop("text", "안녕하세요")
    with pytest.raises(PermanentError, match=text):
        await _kakao(url, sender=_sender(url)).send(_reply(reply_text, **spec), http)
    assert await _shown(url, http) == []


async def test_reply_image_goes_as_simple_image_in_the_callback(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    link = "https://inbox.shop.example/files/abc.png"
    reply = _reply(
        "사이즈표입니다.", kakao_callback_url=callback, kakao_callback_expires_at=_valid_until()
    ).model_copy(
        update={
            "attachments": [Attachment(name="사이즈표.png", content_type="image/png", url=link)]
        }
    )
    await _kakao(url).send(reply, http)
    [shown] = await _shown(url, http)
    assert shown["via"] == "callback" and shown["texts"] == ["사이즈표입니다."]
    assert shown["images"] == [link]


async def test_reply_image_after_the_callback_expired_is_refused_with_the_reason(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    callback = await _callback_url(url, http)
    image = Attachment(name="a.png", content_type="image/png", url="https://x.example/a.png")
    reply = _reply(
        kakao_callback_url=callback, kakao_callback_expires_at=_valid_until(-0.1)
    ).model_copy(update={"attachments": [image]})
    sender = _sender(url)
    with pytest.raises(PermanentError, match="images only in the chatbot callback"):
        await _kakao(url, sender=sender).send(reply, http)
    assert await _shown(url, http) == []  # nothing reached the customer
