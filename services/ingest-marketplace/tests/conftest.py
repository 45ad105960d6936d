"""Fixtures: the three platform simulators on ephemeral ports, a per-board harness that
drives them the way a customer or a seller on the platform would, and the service itself
against the real nats-server and Mongo-wire store of `core_env`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inbox_core.connector import PollerRunner
from inbox_core.runtime import RUNTIME, Runtime
from inbox_ingest_marketplace.app import RUNNERS, create_app
from inbox_ingest_marketplace.settings import MarketSettings
from inbox_ingest_marketplace.simulators import coupang as coupang_sim
from inbox_ingest_marketplace.simulators import elevenst as elevenst_sim
from inbox_ingest_marketplace.simulators.naver_commerce import PREFIX, SIM_STATE, SimState
from inbox_ingest_marketplace.simulators.naver_commerce import create_app as create_sim

START_TIMEOUT_S = 30.0
STEP_TIMEOUT_S = 20.0
VENDOR_ID = "A00012345"
OTHER_VENDOR_ID = "A00067890"
ELEVENST_KEY = "0123456789abcdef0123456789abcdef"
MARKET_ENV = (
    "NAVER_COMMERCE_CLIENT_ID",
    "NAVER_COMMERCE_CLIENT_SECRET",
    "NAVER_COMMERCE_URL",
    "NAVER_COMMERCE_ACCOUNT",
    "NAVER_COMMERCE_BACKFILL_DAYS",
    "COUPANG_ACCESS_KEY",
    "COUPANG_SECRET_KEY",
    "COUPANG_VENDOR_ID",
    "COUPANG_URL",
    "COUPANG_ACCOUNT",
    "COUPANG_WING_ID",
    "ELEVENST_API_KEY",
    "ELEVENST_URL",
    "ELEVENST_ACCOUNT",
    "INBOX_MARKET_POLL_S",
    "INBOX_MARKET_ACCOUNTS",
    "INBOX_MARKET_BACKFILL_DAYS",
    "INBOX_MARKET_WATCH_DAYS",
    "INBOX_MARKET_REVISIT_S",
    "INBOX_MARKET_AUTH_RETRY_S",
    "INBOX_MARKET_HTTP_ATTEMPTS",
    "INBOX_MARKET_HTTP_RETRY_MAX_S",
)


@dataclass
class FakeClock:
    """A wall clock the test moves by hand (seconds since the epoch)."""

    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Credentials:
    client_id: str
    client_secret: str


@dataclass
class RunningSim:
    base_url: str  # what NAVER_COMMERCE_URL points at: http://127.0.0.1:<port>/external
    root_url: str  # for the /_sim/ admin endpoints
    state: Any
    app: web.Application


@dataclass
class RunningMarket:
    client: TestClient[Any, Any]
    app: web.Application

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    @property
    def runner(self) -> PollerRunner:
        return self.app[RUNNERS][0]

    def runner_for(self, channel: str, account: str | None = None) -> PollerRunner:
        for runner in self.app[RUNNERS]:
            if runner.channel.name == channel and account in (None, runner.channel.account):
                return runner
        raise AssertionError(f"no runner for {channel}:{account}")


# --- simulators ---------------------------------------------------------------------------


@pytest.fixture
def naver_credentials() -> Credentials:
    # Cost 4, like the secrets Naver hands out ($2a$04$...): fast to sign and to check.
    return Credentials("inbox-test-client", bcrypt.gensalt(rounds=4, prefix=b"2a").decode())


@pytest.fixture
def coupang_vendors() -> list[coupang_sim.Vendor]:
    return [
        coupang_sim.Vendor(VENDOR_ID, "ak-test-0001", "sk-test-secret-0001"),
        coupang_sim.Vendor(OTHER_VENDOR_ID, "ak-test-0002", "sk-test-secret-0002"),
    ]


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def serve(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1", port=0)
        await asyncio.wait_for(server.start_server(), START_TIMEOUT_S)
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    try:
        yield serve
    finally:
        for server in servers:
            await asyncio.wait_for(server.close(), START_TIMEOUT_S)


@pytest.fixture
async def start_sim(
    naver_credentials: Credentials, serve_app: Callable[[web.Application], Awaitable[str]]
) -> Callable[..., Awaitable[RunningSim]]:
    async def start(**kwargs: Any) -> RunningSim:
        app = create_sim(naver_credentials.client_id, naver_credentials.client_secret, **kwargs)
        root = await serve_app(app)
        return RunningSim(root + PREFIX, root, app[SIM_STATE], app)

    return start


@pytest.fixture
async def naver_sim(start_sim: Callable[..., Awaitable[RunningSim]]) -> RunningSim:
    return await start_sim()


@pytest.fixture
async def start_coupang_sim(
    coupang_vendors: list[coupang_sim.Vendor],
    serve_app: Callable[[web.Application], Awaitable[str]],
) -> Callable[..., Awaitable[RunningSim]]:
    async def start(**kwargs: Any) -> RunningSim:
        app = coupang_sim.create_app(coupang_vendors, **kwargs)
        root = await serve_app(app)
        return RunningSim(root, root, app[coupang_sim.SIM_STATE], app)

    return start


@pytest.fixture
async def coupang(start_coupang_sim: Callable[..., Awaitable[RunningSim]]) -> RunningSim:
    return await start_coupang_sim()


@pytest.fixture
async def start_elevenst_sim(
    serve_app: Callable[[web.Application], Awaitable[str]],
) -> Callable[..., Awaitable[RunningSim]]:
    async def start(**kwargs: Any) -> RunningSim:
        kwargs.setdefault("api_keys", {ELEVENST_KEY: "seller1"})
        app = elevenst_sim.create_app(kwargs.pop("api_keys"), **kwargs)
        root = await serve_app(app)
        return RunningSim(root, root, app[elevenst_sim.SIM_STATE], app)

    return start


@pytest.fixture
async def elevenst(start_elevenst_sim: Callable[..., Awaitable[RunningSim]]) -> RunningSim:
    return await start_elevenst_sim()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose every call is bounded (10 s): channel calls made with it in a
    test need no timeout of their own (their retries are bounded by the RetryPolicy)."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        yield session
    finally:
        await asyncio.wait_for(session.close(), 10)


# --- the service --------------------------------------------------------------------------


@pytest.fixture
async def start_market(
    core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Awaitable[RunningMarket]]]:
    """Start the service with extra env; stopped (drained) at the end of the test."""
    for name in MARKET_ENV:
        monkeypatch.delenv(name, raising=False)
    clients: list[TestClient[Any, Any]] = []

    async def start(**env: str) -> RunningMarket:
        # A reply the outbound consumer's pull missed is delivered again after ack_wait;
        # keep that short so such a reply is answered within a test's bound (see README).
        monkeypatch.setenv("INBOX_ACK_WAIT_S", "2")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app(MarketSettings())
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await asyncio.wait_for(client.start_server(), START_TIMEOUT_S)
        clients.append(client)
        return RunningMarket(client, app)

    try:
        yield start
    finally:
        for client in clients:
            await asyncio.wait_for(client.close(), START_TIMEOUT_S)


Eventually = Callable[..., Awaitable[Any]]


async def _eventually(check: Callable[[], Any], *, timeout: float = 15.0, what: str = "") -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await asyncio.wait_for(result, timeout)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {what or check}")
        await asyncio.sleep(0.05)


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(time.time())


# --- one board, driven the way people use the platform -------------------------------------


@dataclass
class BoardCase:
    """A board of a platform: how to configure the service for it, and how a customer
    (add, edit, delete) or the seller on the platform (answer) changes its questions."""

    id: str
    channel: str
    board: str  # the cursor board
    key: str  # the thread key token
    page_size: int
    page_two: str  # a substring of the list call that reads the second page
    sim: RunningSim = field(init=False)
    account: str = field(init=False)

    def thread_key(self, question_id: str) -> str:
        return f"{self.channel}:{self.account}:{self.key}:{question_id}"

    # filled per platform by the harness -----------------------------------------------
    env: Callable[[], dict[str, str]] = field(init=False)
    add: Callable[..., str] = field(init=False)
    edit: Callable[[str, str], None] = field(init=False)
    delete: Callable[[str], None] = field(init=False)
    answer: Callable[[str, str], None] = field(init=False)
    answers: Callable[[str], list[str]] = field(init=False)


BOARD_CASES = [
    ("naver-qna", "naver_commerce", "qnas", "qna", 100, "page=2&"),
    ("naver-inquiry", "naver_commerce", "inquiries", "inquiry", 200, "page=2&"),
    ("coupang-online", "coupang", "online_inquiries", "online", 50, "pageNum=2&"),
    ("coupang-callcenter", "coupang", "call_center_inquiries", "callcenter", 30, "pageNum=2&"),
    ("elevenst-qna", "elevenst", "qnas", "qna", 0, ""),
]
BOARD_IDS = [c[0] for c in BOARD_CASES]


def _ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


@pytest.fixture(params=BOARD_CASES, ids=BOARD_IDS)
async def board(
    request: pytest.FixtureRequest,
    naver_credentials: Credentials,
    coupang_vendors: list[coupang_sim.Vendor],
    start_sim: Callable[..., Awaitable[RunningSim]],
    start_coupang_sim: Callable[..., Awaitable[RunningSim]],
    start_elevenst_sim: Callable[..., Awaitable[RunningSim]],
) -> BoardCase:
    case = BoardCase(*request.param)
    if case.channel == "naver_commerce":
        case.sim = await start_sim()
        _naver(case, naver_credentials)
    elif case.channel == "coupang":
        case.sim = await start_coupang_sim()
        _coupang(case, coupang_vendors[0])
    else:
        case.sim = await start_elevenst_sim()
        _elevenst(case)
    return case


def _naver(case: BoardCase, creds: Credentials) -> None:
    state: SimState = case.sim.state
    case.account = "smartstore"
    case.env = lambda: {
        "NAVER_COMMERCE_CLIENT_ID": creds.client_id,
        "NAVER_COMMERCE_CLIENT_SECRET": creds.client_secret,
        "NAVER_COMMERCE_URL": case.sim.base_url,
        "NAVER_COMMERCE_ACCOUNT": case.account,
    }
    if case.key == "qna":

        def add(text: str, minutes_ago: float = 1, **kw: Any) -> str:
            return str(
                state.add_question(question=text, create_date=_ago(minutes_ago), **kw)["questionId"]
            )

        def answers(qid: str) -> list[str]:
            answer = state.questions[int(qid)]["answer"]
            return [answer] if answer else []

        case.add = add
        case.edit = lambda qid, text: state.questions[int(qid)].update(question=text)
        case.delete = lambda qid: state.questions.pop(int(qid)) and None
        case.answer = lambda qid, text: state.answer_question(int(qid), text) and None
        case.answers = answers
    else:

        def add_inquiry(text: str, minutes_ago: float = 1, **kw: Any) -> str:
            return str(
                state.add_inquiry(content=text, registered=_ago(minutes_ago), **kw)["inquiryNo"]
            )

        def inquiry_answers(qid: str) -> list[str]:
            answer = state.inquiries[int(qid)]["answerContent"]
            return [answer] if answer else []

        case.add = add_inquiry
        case.edit = lambda qid, text: state.inquiries[int(qid)].update(inquiryContent=text)
        case.delete = lambda qid: state.inquiries.pop(int(qid)) and None
        case.answer = lambda qid, text: state.answer_inquiry(int(qid), text) and None
        case.answers = inquiry_answers


def _coupang(case: BoardCase, vendor: coupang_sim.Vendor) -> None:
    state: coupang_sim.SimState = case.sim.state
    case.account = vendor.vendor_id
    case.env = lambda: {
        "COUPANG_ACCESS_KEY": vendor.access_key,
        "COUPANG_SECRET_KEY": vendor.secret_key,
        "COUPANG_VENDOR_ID": vendor.vendor_id,
        "COUPANG_URL": case.sim.base_url,
    }
    if case.key == "online":
        store = state.online

        def add(text: str, minutes_ago: float = 1, **kw: Any) -> str:
            return str(
                state.add_online(content=text, inquiry_at=_ago(minutes_ago), **kw)["inquiryId"]
            )

        case.add = add
        case.answer = lambda qid, text: state.answer_online(int(qid), text, "wing-ui") and None
        case.answers = lambda qid: [c["content"] for c in store[int(qid)]["commentDtoList"]]
    else:
        store = state.call_center

        def add_cc(text: str, minutes_ago: float = 1, **kw: Any) -> str:
            return str(
                state.add_call_center(content=text, inquiry_at=_ago(minutes_ago), **kw)["inquiryId"]
            )

        case.add = add_cc
        case.answer = lambda qid, text: (
            state.answer_call_center(int(qid), text, vendor.vendor_id, "WING") and None
        )
        case.answers = lambda qid: [
            r["content"] for r in store[int(qid)]["replies"] if r["receptionist"] != "coupang-cs"
        ]
    case.edit = lambda qid, text: store[int(qid)].update(content=text)
    case.delete = lambda qid: store.pop(int(qid)) and None


def _elevenst(case: BoardCase) -> None:
    state: elevenst_sim.SimState = case.sim.state
    case.account = "11st"
    case.env = lambda: {"ELEVENST_API_KEY": ELEVENST_KEY, "ELEVENST_URL": case.sim.base_url}

    def add(text: str, minutes_ago: float = 1, **kw: Any) -> str:
        return state.add_question(content=text, created=_ago(minutes_ago), **kw)["brdInfoNo"]

    def answers(qid: str) -> list[str]:
        item = state.qnas[int(qid)]
        return [item["answerCont"]] if item["answerYn"] == "Y" else []

    case.add = add
    case.edit = lambda qid, text: state.qnas[int(qid)].update(brdInfoCont=text)
    case.delete = lambda qid: state.qnas[int(qid)].update(dispYn="N")
    case.answer = lambda qid, text: state.answer(int(qid), text) and None
    case.answers = answers
