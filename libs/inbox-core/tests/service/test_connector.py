"""The connector SDK (`inbox_core.connector`) against a real nats-server and store: what a
platform sees from a webhook, what reaches the bus, how replies are reported, and how a
poller's cursor moves. The channels here are toys; the platform is this test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import aiohttp
import pytest
from aiohttp import web

from inbox_core import subjects
from inbox_core.bus import ORDER_KEY_HEADER
from inbox_core.connector import (
    Channel,
    Connector,
    Page,
    PollerRunner,
    PollingChannel,
    RawRequest,
    SendResult,
    WebhookChannel,
)
from inbox_core.errors import AuthError, InvalidPayload, PermanentError, TransientError
from inbox_core.runtime import Runtime
from inbox_core.schema import (
    Customer,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    OutboundReply,
)
from inbox_core.settings import ServiceSettings
from inbox_core.store import CURSORS, RAW
from inbox_core.testing.http import collect, serve
from inbox_core.testing.plugin import NatsServer

TIMEOUT = 10.0
SECRET = "s3cret"


def message(
    external_id: str, text: str = "배송 언제 되나요?", account: str = "shop"
) -> InboundMessage:
    return InboundMessage(
        channel="toy",
        account=account,
        external_id=external_id,
        thread_keys=[f"toy:{account}:customer-1"],
        customer=Customer(id="customer-1"),
        text=text,
        received_at=datetime(2025, 11, 20, 6, 30, tzinfo=UTC),
    )


class ToyWebhook(WebhookChannel):
    """Body `{"id", "text"}` signed by header `X-Toy-Token`."""

    name: ClassVar[str] = "toy"
    path: ClassVar[str] = "/webhooks/toy"

    def __init__(self, account: str = "shop", *, prepare_s: float = 0.0) -> None:
        super().__init__(account)
        self.prepare_s = prepare_s
        self.sent: list[OutboundReply] = []
        self.failures: list[Exception] = []

    def verify(self, request: RawRequest) -> None:
        if request.headers.get("X-Toy-Token") != SECRET:
            raise AuthError("X-Toy-Token does not match")

    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        try:
            body = json.loads(request.body)
            return [message(str(body["id"]), str(body["text"]), self.account)]
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidPayload(f"not a toy event: {err}") from err

    async def prepare(
        self, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]:
        await asyncio.sleep(self.prepare_s)
        return messages

    def acknowledge(self, request: RawRequest, messages: list[InboundMessage]) -> web.Response:
        return web.json_response({"toy": "thanks", "accepted": [m.external_id for m in messages]})

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(reply)
        return SendResult(external_id=f"sent-{len(self.sent)}")


@pytest.fixture
async def runtime(core_env: dict[str, str]) -> AsyncIterator[Runtime]:
    runtime = Runtime("test-connector", ServiceSettings())
    await asyncio.wait_for(runtime.start(), TIMEOUT)
    try:
        yield runtime
    finally:
        await asyncio.wait_for(runtime.stop(), TIMEOUT)


@dataclass
class Webhook:
    url: str
    connector: Connector
    channel: ToyWebhook
    http: aiohttp.ClientSession

    async def post(self, body: Any, token: str | None = SECRET) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"X-Toy-Token": token} if token is not None else {}
        async with self.http.post(self.url + ToyWebhook.path, data=data, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)


async def _webhook(runtime: Runtime, channel: ToyWebhook) -> AsyncIterator[Webhook]:
    connector = Connector(runtime)
    app = web.Application()
    app.cleanup_ctx.append(connector.context)
    connector.mount(app, channel)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with serve(app) as url, aiohttp.ClientSession(timeout=timeout) as http:
        yield Webhook(url, connector, channel, http)


@pytest.fixture
async def webhook(runtime: Runtime) -> AsyncIterator[Webhook]:
    async for hook in _webhook(runtime, ToyWebhook()):
        yield hook


async def _inbound_count(runtime: Runtime) -> int:
    info = await runtime.bus.js.stream_info(subjects.STREAM_INBOUND)
    return int(info.state.messages)


# -- webhooks ---------------------------------------------------------------------------------


async def test_webhook_message_reaches_the_bus_once_with_its_dedup_id(
    webhook: Webhook, runtime: Runtime
) -> None:
    event = {"id": "m-1", "text": "배송 언제 되나요?"}
    first = await webhook.post(event)
    again = await webhook.post(event)  # the platform retries a delivery it thinks was lost

    assert first == again == (200, {"toy": "thanks", "accepted": ["m-1"]})
    [msg] = await collect(runtime.bus.js, subjects.inbound("toy", "shop"), 1, timeout=TIMEOUT)
    assert msg.headers is not None
    assert msg.headers["Nats-Msg-Id"] == "toy:shop:m-1"
    assert msg.headers[ORDER_KEY_HEADER] == "toy:shop:customer-1"
    assert InboundMessage.from_json(msg.data).text == "배송 언제 되나요?"
    assert await _inbound_count(runtime) == 1


@pytest.mark.parametrize("token", [None, "guess"], ids=["token_missing", "token_wrong"])
async def test_webhook_refused_by_verify_answers_401_and_publishes_nothing(
    token: str | None, webhook: Webhook, runtime: Runtime
) -> None:
    status, body = await webhook.post({"id": "m-2", "text": "안녕하세요"}, token=token)

    assert status == 401 and body["error"] == "unauthorized"
    assert "X-Toy-Token" in body["detail"]
    assert await _inbound_count(runtime) == 0


async def test_unreadable_payload_answers_400_and_is_kept(
    webhook: Webhook, runtime: Runtime
) -> None:
    status, body = await webhook.post(b'{"id": "m-3"')

    assert status == 400 and body["error"] == "invalid payload"
    kept = await runtime.store.db[RAW].find_one({"channel": "toy"})
    assert kept is not None
    assert (kept["account"], kept["body"]) == ("shop", b'{"id": "m-3"')
    assert "not a toy event" in kept["error"]
    assert await _inbound_count(runtime) == 0


async def test_publish_budget_spent_answers_503_so_the_platform_retries(
    runtime: Runtime,
) -> None:
    slow = ToyWebhook(prepare_s=2.0)
    slow.publish_budget_s = 0.2  # type: ignore[misc]
    async for hook in _webhook(runtime, slow):
        async with hook.http.post(
            hook.url + ToyWebhook.path,
            data=json.dumps({"id": "m-4", "text": "재입고?"}),
            headers={"X-Toy-Token": SECRET},
        ) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
    assert await _inbound_count(runtime) == 0


async def test_bus_down_answers_503_and_the_retry_gets_through(
    webhook: Webhook, runtime: Runtime, nats_server: NatsServer
) -> None:
    nats_server.process.kill()
    status, _ = await webhook.post({"id": "m-5", "text": "교환 문의"})
    assert status == 503

    nats_server.restart()
    for _ in range(100):  # the client reconnects on its own
        if runtime.bus.connected:
            break
        await asyncio.sleep(0.1)
    status, body = await webhook.post({"id": "m-5", "text": "교환 문의"})
    assert (status, body["accepted"]) == (200, ["m-5"])
    assert await _inbound_count(runtime) == 1


async def test_get_on_the_webhook_path_is_the_handshake(webhook: Webhook) -> None:
    async with webhook.http.get(webhook.url + ToyWebhook.path) as resp:
        assert resp.status == 405  # the default: a channel without a verify challenge


# -- replies ----------------------------------------------------------------------------------


def reply(account: str = "shop", text: str = "오늘 출고됩니다.") -> OutboundReply:
    return OutboundReply(
        conversation_id="conv-1",
        channel="toy",
        account=account,
        customer=Customer(id="customer-1"),
        text=text,
        agent="민지",
    )


async def _reports(runtime: Runtime, n: int) -> list[DeliveryReport]:
    msgs = await collect(runtime.bus.js, "inbox.delivery.toy.>", n, timeout=TIMEOUT)
    return [DeliveryReport.from_json(m.data) for m in msgs]


async def _outbound(runtime: Runtime, channel: ToyWebhook) -> AsyncIterator[Connector]:
    connector = Connector(runtime)
    app = web.Application()
    ctx = connector.context(app)
    await ctx.__anext__()
    try:
        await connector.start_outbound({channel.account: channel}, "toy")
        yield connector
    finally:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(ctx.__anext__(), TIMEOUT)


async def _send(runtime: Runtime, out: OutboundReply) -> None:
    await runtime.bus.publish_model(
        subjects.outbound(out.channel, out.account), out, msg_id=f"reply:{out.id}"
    )


async def test_reply_is_sent_and_reported_with_the_platform_id(runtime: Runtime) -> None:
    channel = ToyWebhook()
    async for _ in _outbound(runtime, channel):
        out = reply()
        await _send(runtime, out)
        [report] = await _reports(runtime, 1)
    assert [r.text for r in channel.sent] == ["오늘 출고됩니다."]
    assert (report.reply_id, report.status, report.external_id) == (
        out.id,
        DeliveryStatus.SENT,
        "sent-1",
    )


async def test_refused_reply_is_reported_failed_and_not_retried(runtime: Runtime) -> None:
    channel = ToyWebhook()
    channel.failures = [PermanentError("the customer blocked the shop")]
    async for _ in _outbound(runtime, channel):
        await _send(runtime, reply())
        [report] = await _reports(runtime, 1)
        await asyncio.sleep(0.3)  # a redelivery would have come by now (nak delay 0.05 s)
    assert report.status == DeliveryStatus.FAILED
    assert report.error == "the customer blocked the shop"
    assert channel.sent == [] and channel.failures == []


async def test_transient_failure_is_retried_then_sent_once(runtime: Runtime) -> None:
    channel = ToyWebhook()
    channel.failures = [TransientError("HTTP 503", retry_after=0.05)]
    async for _ in _outbound(runtime, channel):
        await _send(runtime, reply())
        [report] = await _reports(runtime, 1)
    assert report.status == DeliveryStatus.SENT
    assert len(channel.sent) == 1


async def test_reply_still_failing_after_the_last_try_is_reported_failed(
    runtime: Runtime,
) -> None:
    channel = ToyWebhook()
    channel.failures = [TransientError("HTTP 503")] * 3  # INBOX_MAX_DELIVER=3 in core_env
    async for _ in _outbound(runtime, channel):
        await _send(runtime, reply())
        [report] = await _reports(runtime, 1)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and "gave up after retries" in report.error
    assert channel.sent == []


async def test_reply_for_an_unknown_account_is_reported_failed(runtime: Runtime) -> None:
    channel = ToyWebhook()
    async for _ in _outbound(runtime, channel):
        await _send(runtime, reply(account="other-shop"))
        [report] = await _reports(runtime, 1)
    assert report.status == DeliveryStatus.FAILED
    assert report.error == "no toy account named 'other-shop'"
    assert channel.sent == []


# -- pollers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyCursor:
    last: int

    def dump(self) -> dict[str, Any]:
        return {"last": self.last}

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> Self:
        return cls(int(state["last"]))


@dataclass
class ToyBoard:
    """The platform: numbered questions; `error` makes the next poll fail."""

    items: list[str] = field(default_factory=list)
    error: Exception | None = None
    seen_cursors: list[ToyCursor | None] = field(default_factory=list)
    acknowledged: list[list[str]] = field(default_factory=list)


class ToyPoller(PollingChannel):
    name: ClassVar[str] = "toy"
    boards: ClassVar[tuple[str, ...]] = ("qna",)
    cursor_type = ToyCursor

    def __init__(self, board: ToyBoard, page_size: int = 2) -> None:
        super().__init__("shop")
        self.platform = board
        self.page_size = page_size

    async def poll(
        self, board: str, cursor: Any, http: aiohttp.ClientSession, now: datetime
    ) -> Page:
        self.platform.seen_cursors.append(cursor)
        if self.platform.error is not None:
            error, self.platform.error = self.platform.error, None
            raise error
        last = 0 if cursor is None else cursor.last
        page = self.platform.items[last : last + self.page_size]
        messages = [message(f"q{last + i + 1}", text) for i, text in enumerate(page)]
        more = last + len(page) < len(self.platform.items)
        return Page(messages=messages, cursor=ToyCursor(last + len(page)), more=more)

    async def acknowledge(self, board: str, page: Page) -> None:
        self.platform.acknowledged.append([m.external_id for m in page.messages])


@pytest.fixture
async def poller(runtime: Runtime) -> AsyncIterator[PollerRunner]:
    connector = Connector(runtime)
    ctx = connector.context(web.Application())
    await ctx.__anext__()
    channel = ToyPoller(ToyBoard())
    try:
        yield PollerRunner(connector, channel, interval_s=0.05, backoff_initial_s=0.05)
    finally:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(ctx.__anext__(), TIMEOUT)


def _board(runner: PollerRunner) -> ToyBoard:
    assert isinstance(runner.channel, ToyPoller)
    return runner.channel.platform


async def test_poll_publishes_the_page_then_saves_the_cursor(
    poller: PollerRunner, runtime: Runtime
) -> None:
    _board(poller).items = ["재입고?", "사이즈 문의", "배송 문의"]

    more = await asyncio.wait_for(poller.poll_once("qna"), TIMEOUT)

    assert more is True
    assert await poller.load_cursor("qna") == {"last": 2}
    assert _board(poller).acknowledged == [["q1", "q2"]]
    msgs = await collect(runtime.bus.js, subjects.inbound("toy", "shop"), 2, timeout=TIMEOUT)
    assert [m.headers["Nats-Msg-Id"] for m in msgs if m.headers] == ["toy:shop:q1", "toy:shop:q2"]

    assert await asyncio.wait_for(poller.poll_once("qna"), TIMEOUT) is False
    assert _board(poller).seen_cursors[-1] == ToyCursor(2)  # the stored state, as the object
    assert await poller.load_cursor("qna") == {"last": 3}


async def test_cursor_stays_when_the_bus_does_not_confirm(
    poller: PollerRunner, runtime: Runtime, nats_server: NatsServer
) -> None:
    _board(poller).items = ["재입고?"]
    nats_server.process.kill()

    with pytest.raises(TransientError):  # BusUnavailable
        await asyncio.wait_for(poller.poll_once("qna"), TIMEOUT)

    assert await poller.load_cursor("qna") is None
    assert _board(poller).acknowledged == []  # the platform is not told it was read


async def test_replayed_page_publishes_nothing_new(poller: PollerRunner, runtime: Runtime) -> None:
    _board(poller).items = ["재입고?", "사이즈 문의"]
    await asyncio.wait_for(poller.poll_once("qna"), TIMEOUT)
    # As after a crash between the PubAck and the cursor save: the page is read again.
    await runtime.store.db[CURSORS].delete_many({})

    await asyncio.wait_for(poller.poll_once("qna"), TIMEOUT)

    assert await _inbound_count(runtime) == 2
    assert await poller.load_cursor("qna") == {"last": 2}


async def test_refused_credentials_mark_the_account_and_the_loop_goes_on(
    poller: PollerRunner,
) -> None:
    board = _board(poller)
    board.error = AuthError("key revoked")
    poller.auth_retry_s = 0.05
    board.items = ["재입고?"]
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(200):
            if poller.status.get("qna") and poller.status["qna"].auth_failed:
                break
            await asyncio.sleep(0.01)
        assert poller.status["qna"].last_error == "auth: key revoked"
        for _ in range(200):
            if await poller.load_cursor("qna") == {"last": 1}:
                break
            await asyncio.sleep(0.02)
        assert await poller.load_cursor("qna") == {"last": 1}
        assert poller.status["qna"].auth_failed is False
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)


async def test_platform_outage_backs_off_with_its_retry_after_and_recovers(
    poller: PollerRunner,
) -> None:
    board = _board(poller)
    board.error = TransientError("HTTP 503", retry_after=0.1)
    board.items = ["재입고?"]
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(300):
            if await poller.load_cursor("qna") == {"last": 1}:
                break
            await asyncio.sleep(0.02)
        assert await poller.load_cursor("qna") == {"last": 1}
        assert poller.status["qna"].last_error is None
        assert board.seen_cursors[0] is None and len(board.seen_cursors) >= 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)


class TwoBoardToy(ToyPoller):
    boards: ClassVar[tuple[str, ...]] = ("qna", "inquiry")

    def __init__(self, board: ToyBoard) -> None:
        super().__init__(board, page_size=1)
        self.polled: list[str] = []

    async def poll(
        self, board: str, cursor: Any, http: aiohttp.ClientSession, now: datetime
    ) -> Page:
        self.polled.append(board)
        return await super().poll(board, cursor, http, now)


async def test_board_with_a_backlog_yields_to_the_next_after_its_page_budget(
    runtime: Runtime,
) -> None:
    connector = Connector(runtime)
    ctx = connector.context(web.Application())
    await ctx.__anext__()
    channel = TwoBoardToy(ToyBoard(items=[f"문의 {i}" for i in range(5)]))
    # A whole interval between rounds would stall this test: a budget cut waits for none.
    runner = PollerRunner(connector, channel, interval_s=3600, pages_per_round=2)
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(300):
            if [await runner.load_cursor(b) for b in channel.boards] == [{"last": 5}] * 2:
                break
            await asyncio.sleep(0.02)
        assert [await runner.load_cursor(b) for b in channel.boards] == [{"last": 5}] * 2
        assert channel.polled[:6] == ["qna", "qna", "inquiry", "inquiry", "qna", "qna"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(ctx.__anext__(), TIMEOUT)


def test_channel_without_cursor_type_gets_the_stored_dict() -> None:
    class Plain(PollingChannel):
        name: ClassVar[str] = "plain"

        async def poll(
            self, board: str, cursor: Any, http: aiohttp.ClientSession, now: datetime
        ) -> Page:
            return Page(messages=[], cursor={})

    assert Plain("a").load_cursor(None) is None
    assert Plain("a").load_cursor({"since": "x"}) == {"since": "x"}
    assert ToyPoller(ToyBoard()).load_cursor({"last": 4}) == ToyCursor(4)


async def test_channel_that_cannot_send_refuses_with_a_clear_reason() -> None:
    class Silent(Channel):
        name: ClassVar[str] = "silent"

    async with aiohttp.ClientSession() as http:
        with pytest.raises(PermanentError, match="silent cannot send replies"):
            await asyncio.wait_for(Silent("a").send(reply(), http), TIMEOUT)
