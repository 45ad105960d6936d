"""Graph API: customer profile lookups (cached, bounded, never failing) and how long a rate
limit asks us to wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from inbox_core.errors import TransientError
from inbox_core.schema import Customer, InboundMessage, OutboundReply
from inbox_core.testing.http import simulator
from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig
from inbox_ingest_social.channels.meta_graph import (
    Answer,
    Profile,
    ProfileCache,
    ProfileLookup,
    rate_limit_wait,
)
from inbox_ingest_social.simulators.meta import create_app

TOKEN = "EAAG-profile-token"
PAGE = "104857600123456"
PSID = "6543210987654321"
IGSID = "1234567890123456"


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with simulator(create_app("app-secret", TOKEN)) as running:
        yield running


async def _seed(url: str, http: aiohttp.ClientSession, **profile: str) -> None:
    async with http.post(f"{url}/_sim/profile", json=profile) as resp:
        assert resp.status == 200


async def _lookups(url: str, http: aiohttp.ClientSession) -> list[str]:
    async with http.get(f"{url}/_sim/lookups") as resp:
        return list((await resp.json())["ids"])


def _message(channel: str = "facebook", customer: str = PSID, mid: str = "m_1") -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account=PAGE,
        external_id=mid,
        thread_keys=[f"{channel}:{PAGE}:{customer}"],
        customer=Customer(id=customer),
        text="배송 언제 되나요?",
        received_at=datetime(2025, 11, 20, tzinfo=UTC),
        context={"page_id": PAGE},
    )


def _lookup(url: str, channel: type[Facebook] = Facebook, **kw: Any) -> ProfileLookup:
    config = MetaConfig(page_token=kw.pop("token", TOKEN), graph_url=f"{url}/v21.0")
    lookup = channel.profile_lookup(config)
    assert lookup is not None
    for key, value in kw.items():
        setattr(lookup, key, value)
    return lookup


async def test_customer_name_is_filled_from_the_graph_api(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    await _seed(url, http, id=PSID, name="김민수", profile_pic="https://cdn.example/p.jpg")
    [message] = await _lookup(url).enrich("facebook", [_message()], http)
    assert message.customer.name == "김민수"
    assert message.context == {"page_id": PAGE, "profile_pic": "https://cdn.example/p.jpg"}


async def test_instagram_name_falls_back_to_the_username(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    await _seed(url, http, id=IGSID, username="minsu.knit")
    [message] = await _lookup(url, Instagram).enrich(
        "instagram", [_message("instagram", IGSID)], http
    )
    assert message.customer.name == "minsu.knit"
    assert message.context["username"] == "minsu.knit"


async def test_profiles_are_cached_across_webhooks(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    await _seed(url, http, id=PSID, first_name="민수", last_name="김")
    lookup = _lookup(url)
    first = await lookup.enrich("facebook", [_message(mid="m_1"), _message(mid="m_2")], http)
    again = await lookup.enrich("facebook", [_message(mid="m_3")], http)
    assert [m.customer.name for m in first + again] == ["민수 김"] * 3
    assert await _lookups(url, http) == [PSID]


async def test_unknown_profile_leaves_the_name_empty_and_is_not_asked_again(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    lookup = _lookup(url)
    for mid in ("m_1", "m_2"):
        [message] = await lookup.enrich("facebook", [_message(mid=mid)], http)
        assert message.customer.name is None
    assert await _lookups(url, http) == [PSID]


async def test_rejected_token_leaves_the_name_empty(
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    await _seed(url, http, id=PSID, name="김민수")
    [message] = await _lookup(url, token="expired").enrich("facebook", [_message()], http)
    assert message.customer.name is None


def test_no_lookup_without_page_token_or_when_disabled() -> None:
    assert Facebook.profile_lookup(MetaConfig(page_token=None)) is None
    assert Facebook.profile_lookup(MetaConfig(page_token=TOKEN, profile_lookup=False)) is None


@pytest.fixture
async def slow_graph() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def handler(_: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 10)
        return web.json_response({"name": "늦은 이름"})

    app = web.Application()
    app.router.add_get("/v21.0/{node}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        release.set()
        await server.close()


async def test_slow_graph_api_does_not_hold_the_webhook(slow_graph: str) -> None:
    lookup = _lookup(slow_graph, timeout_s=0.2)
    async with aiohttp.ClientSession() as http:
        [message] = await asyncio.wait_for(lookup.enrich("facebook", [_message()], http), 5)
    assert message.customer.name is None
    assert len(lookup.cache) == 0  # a timeout is asked again next time


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_keeps_the_most_recent_entries() -> None:
    cache = ProfileCache(max_entries=2, clock=FakeClock())
    cache.put("a", Profile(name="가"))
    cache.put("b", Profile(name="나"))
    assert cache.get("a") == (True, Profile(name="가"))  # a is now the most recent
    cache.put("c", Profile(name="다"))
    assert [cache.get(k)[0] for k in ("a", "b", "c")] == [True, False, True]


def test_cache_forgets_misses_sooner_than_profiles() -> None:
    clock = FakeClock()
    cache = ProfileCache(ttl_s=100, miss_ttl_s=10, clock=clock)
    cache.put("found", Profile(name="가"))
    cache.put("missing", None)
    clock.now = 11
    assert cache.get("found") == (True, Profile(name="가"))
    assert cache.get("missing") == (False, None)
    clock.now = 101
    assert cache.get("found") == (False, None)


# -- rate limits --------------------------------------------------------------------------------


def _answer(**headers: str) -> Answer:
    return Answer(429, None, CIMultiDictProxy(CIMultiDict(headers)))


BUC = '{"104857600123456": [{"type": "messenger", "estimated_time_to_regain_access": 3}]}'
WAITS = {
    "retry_after_seconds": ({"Retry-After": "30"}, 30.0),
    "business_use_case_minutes": ({"X-Business-Use-Case-Usage": BUC}, 180.0),
    "retry_after_wins": ({"Retry-After": "5", "X-Business-Use-Case-Usage": BUC}, 5.0),
    "zero_estimate": (
        {"X-Business-Use-Case-Usage": BUC.replace(": 3", ": 0")},
        None,
    ),
    "unreadable_usage": ({"X-Business-Use-Case-Usage": "{"}, None),
    "retry_after_date_form": ({"Retry-After": "Wed, 21 Oct 2025 07:28:00 GMT"}, None),
    "nothing": ({}, None),
}


@pytest.mark.parametrize(("headers", "wait"), WAITS.values(), ids=WAITS.keys())
def test_rate_limit_wait(headers: dict[str, str], wait: float | None) -> None:
    assert rate_limit_wait(_answer(**headers)) == wait


@pytest.mark.parametrize(
    ("spec", "wait"),
    [({"retry_after": 30}, 30.0), ({"regain_minutes": 2}, 120.0), ({}, None)],
    ids=["retry_after_header", "business_use_case_header", "no_header"],
)
async def test_rate_limited_send_carries_the_wait_to_the_sdk(
    spec: dict[str, int], wait: float | None, sim: tuple[str, aiohttp.ClientSession]
) -> None:
    url, http = sim
    fail = {"status": 400, "code": 613, "message": "(#613) rate limit", **spec}
    async with http.post(f"{url}/_sim/fail", json=fail) as resp:
        assert resp.status == 200
    channel = Facebook(PAGE, MetaConfig(page_token=TOKEN, graph_url=f"{url}/v21.0"))
    reply = OutboundReply(
        conversation_id="c",
        channel="facebook",
        account=PAGE,
        customer=Customer(id=PSID),
        text="곧 출고됩니다",
        agent="민지",
    )
    with pytest.raises(TransientError) as err:
        await channel.send(reply, http)
    assert err.value.retry_after == wait


async def test_a_crashing_lookup_leaves_the_message_as_it_was(
    sim: tuple[str, aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, http = sim
    lookup = _lookup(url)

    async def crash(*_: Any) -> Profile | None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(lookup, "_fetch", crash)
    original = _message()
    assert await lookup.enrich("facebook", [original], http) == [original]
