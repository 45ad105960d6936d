"""The NaverCommerce channel against the simulator over real HTTP (no bus, no store)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from inbox_core.errors import AuthError, PermanentError, TransientError
from inbox_core.http import RetryPolicy
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_marketplace.channels.board import text_hash
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.naver_auth import client_secret_sign
from inbox_ingest_marketplace.channels.naver_commerce import BOARD_QNAS, NaverCommerce

QNAS = BOARD_QNAS.name
ONE_TRY = RetryPolicy(attempts=1)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "naver_commerce"
TRACE_HEADER = "GNCP-GW-Trace-ID"


def _channel(sim: Any, creds: Any, **kwargs: Any) -> NaverCommerce:
    return NaverCommerce(
        "smartstore",
        client_id=creds.client_id,
        client_secret=kwargs.pop("client_secret", creds.client_secret),
        base_url=sim.base_url,
        **kwargs,
    )


def _now() -> datetime:
    return datetime.now(UTC)


# --- token endpoint -------------------------------------------------------------------------


async def _token_call(http: aiohttp.ClientSession, sim: Any, **form: str) -> aiohttp.ClientResponse:
    resp = await http.post(f"{sim.base_url}/v1/oauth2/token", data=form)
    await resp.read()
    return resp


def _form(creds: Any, timestamp: str, sign: str | None = None) -> dict[str, str]:
    return {
        "client_id": creds.client_id,
        "timestamp": timestamp,
        "client_secret_sign": sign
        or client_secret_sign(creds.client_id, creds.client_secret, timestamp),
        "grant_type": "client_credentials",
        "type": "SELF",
    }


async def test_token_endpoint_accepts_our_sign_and_returns_the_same_token(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    stamp = str(int(_now().timestamp() * 1000))

    first = await _token_call(http, naver_sim, **_form(naver_credentials, stamp))
    second = await _token_call(http, naver_sim, **_form(naver_credentials, stamp))

    assert first.status == 200 and TRACE_HEADER in first.headers
    body = await first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 10800
    assert (await second.json())["access_token"] == body["access_token"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("tampered-sign", 401, "UNAUTHORIZED"),
        ("wrong-secret", 401, "UNAUTHORIZED"),
        ("stale-timestamp", 400, "BAD_REQUEST"),
        ("missing-sign", 400, "BAD_REQUEST"),
    ],
    ids=["tampered-sign", "wrong-secret", "stale-timestamp", "missing-sign"],
)
async def test_token_endpoint_refuses_bad_requests(
    naver_sim: Any,
    naver_credentials: Any,
    http: aiohttp.ClientSession,
    case: str,
    status: int,
    code: str,
) -> None:
    stamp = str(int(_now().timestamp() * 1000))
    form = _form(naver_credentials, stamp)
    if case == "tampered-sign":
        form["client_secret_sign"] = form["client_secret_sign"][:-6] + "AAAAAA"
    elif case == "wrong-secret":
        other = "$2a$04$" + "A" * 21 + "e"
        form["client_secret_sign"] = client_secret_sign(naver_credentials.client_id, other, stamp)
    elif case == "stale-timestamp":
        old = str(int((_now() - timedelta(minutes=6)).timestamp() * 1000))
        form = _form(naver_credentials, old)
    else:
        del form["client_secret_sign"]

    resp = await _token_call(http, naver_sim, **form)

    assert resp.status == status
    body = await resp.json()
    assert body["code"] == code
    assert {"message", "timestamp", "traceId"} <= set(body)
    assert resp.headers[TRACE_HEADER] == body["traceId"]


async def test_api_without_bearer_token_is_401_gw_authn(
    naver_sim: Any, http: aiohttp.ClientSession
) -> None:
    resp = await http.get(f"{naver_sim.base_url}/v1/contents/qnas")

    assert resp.status == 401
    assert (await resp.json())["code"] == "GW.AUTHN"
    assert TRACE_HEADER in resp.headers


# --- list -----------------------------------------------------------------------------------


async def _list(
    http: aiohttp.ClientSession, sim: Any, channel: NaverCommerce, **params: str
) -> aiohttp.ClientResponse:
    token = await channel.access_token(http)
    resp = await http.get(
        f"{sim.base_url}/v1/contents/qnas",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    await resp.read()
    return resp


async def test_list_page_has_the_documented_shape(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    documented = orjson.loads((FIXTURES / "responses" / "qnas_page_documented.json").read_bytes())
    naver_sim.state.add_question(question="키 165에 55kg인데 M 사이즈 괜찮을까요?")
    channel = _channel(naver_sim, naver_credentials)
    now = _now()

    resp = await _list(
        http,
        naver_sim,
        channel,
        fromDate=(now - timedelta(hours=1)).isoformat(),
        toDate=now.isoformat(),
    )

    body = await resp.json()
    assert resp.status == 200
    assert set(body) == set(documented)
    assert set(body["contents"][0]) == set(documented["contents"][0])
    assert body["sort"] == documented["sort"]


@pytest.mark.parametrize(
    ("params", "bad_field"),
    [
        ({"size": "101"}, "size"),
        ({"page": "0"}, "page"),
        ({"fromDate": None}, "fromDate"),
        ({"toDate": "어제"}, "toDate"),
    ],
    ids=["size-over-100", "page-zero", "no-from-date", "unreadable-to-date"],
)
async def test_list_refuses_bad_parameters_with_invalid_inputs(
    naver_sim: Any,
    naver_credentials: Any,
    http: aiohttp.ClientSession,
    params: dict[str, str | None],
    bad_field: str,
) -> None:
    now = _now()
    query = {"fromDate": (now - timedelta(hours=1)).isoformat(), "toDate": now.isoformat()}
    query.update({k: v for k, v in params.items() if v is not None})
    for key in [k for k, v in params.items() if v is None]:
        query.pop(key)
    channel = _channel(naver_sim, naver_credentials)

    resp = await _list(http, naver_sim, channel, **query)

    assert resp.status == 400
    body = await resp.json()
    assert body["code"] == "BAD_REQUEST"
    assert [i["name"] for i in body["invalidInputs"]] == [bad_field]


# --- poll -----------------------------------------------------------------------------------


async def test_poll_reads_only_the_window_newest_first(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    now = _now()
    state = naver_sim.state
    too_old = state.add_question(question="작년 문의", create_date=now - timedelta(days=5))
    first = state.add_question(question="사이즈 문의", create_date=now - timedelta(hours=2))
    second = state.add_question(question="배송 문의", create_date=now - timedelta(minutes=1))
    channel = _channel(
        naver_sim, naver_credentials, options=PollOptions(backfill=timedelta(days=1))
    )
    # A cursor as the first Naver poller stored it; the window [since − 10 min, now] is
    # within the one-day span of a query.
    stored = {"since": (now - timedelta(hours=23)).isoformat(), "page": 1, "window_to": None}

    page = await channel.poll(QNAS, channel.load_cursor(stored), http, now)

    ids = [m.context["question_id"] for m in page.messages]
    assert ids == [str(second["questionId"]), str(first["questionId"])]
    assert str(too_old["questionId"]) not in ids
    assert page.more is False
    assert page.cursor.dump()["since"] == now.isoformat()


async def test_poll_fetches_a_new_token_once_on_401(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    naver_sim.state.add_question(question="재입고 언제 되나요?")
    channel = _channel(
        naver_sim, naver_credentials, options=PollOptions(backfill=timedelta(hours=1))
    )
    now = _now()
    await channel.poll(QNAS, None, http, now)
    assert naver_sim.state.token_requests == 1

    await channel.poll(QNAS, None, http, now)  # the cached token
    assert naver_sim.state.token_requests == 1

    naver_sim.state.revoke_tokens()
    page = await channel.poll(QNAS, None, http, now)

    assert naver_sim.state.token_requests == 2
    assert [m.text for m in page.messages] == ["재입고 언제 되나요?"]


async def test_token_is_renewed_before_it_expires(
    start_sim: Callable[..., Awaitable[Any]],
    naver_credentials: Any,
    http: aiohttp.ClientSession,
    fake_clock: Any,
) -> None:
    sim = await start_sim(clock=fake_clock)
    channel = _channel(sim, naver_credentials, clock=fake_clock)
    first = await channel.access_token(http)

    fake_clock.now += 2 * 3600  # 1 h left: the cached token still serves
    assert await channel.access_token(http) == first
    fake_clock.now += 45 * 60  # 15 min left: time for a new one

    second = await channel.access_token(http)

    assert second != first
    assert sim.state.token_requests == 2


async def test_wrong_secret_is_an_auth_error_with_the_platform_code(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    channel = _channel(naver_sim, naver_credentials, client_secret="$2a$04$" + "B" * 21 + "e")

    with pytest.raises(AuthError, match="UNAUTHORIZED"):
        await channel.poll(QNAS, None, http, _now())


async def test_rate_limit_is_transient_with_retry_after_from_the_replenish_rate(
    start_sim: Callable[..., Awaitable[Any]],
    naver_credentials: Any,
    http: aiohttp.ClientSession,
    fake_clock: Any,
) -> None:
    sim = await start_sim(rate_per_s=2, burst=1, clock=fake_clock)  # the clock stands still
    channel = _channel(sim, naver_credentials, clock=fake_clock, options=PollOptions(retry=ONE_TRY))
    await channel.poll(QNAS, None, http, _now())

    with pytest.raises(TransientError, match=r"GW\.RATE_LIMIT") as caught:
        await channel.poll(QNAS, None, http, _now())

    assert caught.value.retry_after == 0.5
    fake_clock.now += 1  # the bucket refills
    await channel.poll(QNAS, None, http, _now())


async def test_unreachable_platform_is_transient(
    naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    from inbox_core.embedded import free_port

    channel = NaverCommerce(
        "smartstore",
        client_id=naver_credentials.client_id,
        client_secret=naver_credentials.client_secret,
        base_url=f"http://127.0.0.1:{free_port()}/external",
        options=PollOptions(retry=ONE_TRY),
    )

    with pytest.raises(TransientError):
        await channel.poll(QNAS, None, http, _now())


# --- send -----------------------------------------------------------------------------------


def _reply(
    question_id: str, text: str = "M 사이즈 추천드려요. 여유 있는 핏입니다."
) -> OutboundReply:
    return OutboundReply(
        conversation_id="c-1",
        channel="naver_commerce",
        account="smartstore",
        customer=Customer(id="hong****"),
        thread_keys=[f"naver_commerce:smartstore:qna:{question_id}"],
        text=text,
        agent="민지",
    )


async def test_send_puts_the_answer_on_the_question(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    question = naver_sim.state.add_question(question="키 165에 55kg인데 M 사이즈 괜찮을까요?")
    channel = _channel(naver_sim, naver_credentials)

    result = await channel.send(_reply(str(question["questionId"])), http)

    stored = naver_sim.state.questions[question["questionId"]]
    assert stored["answer"] == "M 사이즈 추천드려요. 여유 있는 핏입니다."
    assert stored["answered"] is True
    answer = "M 사이즈 추천드려요. 여유 있는 핏입니다."
    assert result.external_id == f"qna:{question['questionId']}:answer:{text_hash(answer)}"


async def test_send_to_an_unknown_question_is_permanent_with_the_platform_message(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    channel = _channel(naver_sim, naver_credentials)

    with pytest.raises(PermanentError, match="NOT_FOUND"):
        await channel.send(_reply("123"), http)


async def test_sim_admin_adds_and_lists_questions(
    naver_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{naver_sim.root_url}/_sim/qnas",
        json={
            "productId": 9876543211,
            "productName": "린넨 와이드 팬츠",
            "question": "베이지 L 재입고 되나요?",
            "maskedWriterId": "kimm****",
            "createDate": "2026-11-20T09:41:10.000+09:00",
        },
    ) as resp:
        assert resp.status == 201
        added = await resp.json()
    async with http.get(f"{naver_sim.root_url}/_sim/qnas") as resp:
        listed = (await resp.json())["contents"]

    assert isinstance(added["questionId"], int)
    assert added["createDate"] == "2026-11-20T09:41:10.000+09:00"
    assert added["answered"] is False and added["answer"] is None
    assert listed == [added]
