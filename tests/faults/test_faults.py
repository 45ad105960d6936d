"""Fault injection over the whole stack as processes: every test sends a known set of
messages while something breaks, then checks the queue holds exactly those, once each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage

import aiohttp
import aiosmtplib
import pytest

from inbox_core.testing.stack import TOKEN, StackHarness, assert_exactly_once, running_stack

pytestmark = pytest.mark.e2e

N = 150


@pytest.fixture
async def harness() -> AsyncIterator[StackHarness]:
    async with running_stack() as h:
        yield h


async def _send_with_fault(
    h: StackHarness, prefix: str, fault: Callable[[], Awaitable[None]], n: int = N, senders: int = 8
) -> list[str]:
    """Send n messages with `senders` concurrent clients; run `fault` after a third."""
    tags = [f"{prefix}{i}" for i in range(n)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for tag in tags:
        queue.put_nowait(tag)
    sent = 0
    third = asyncio.Event()

    async def sender(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        while not queue.empty():
            tag = queue.get_nowait()
            await h.deliver(http, h.webhook_body(tag))
            sent += 1
            if sent >= n // 3:
                third.set()

    async with aiohttp.ClientSession() as http:

        async def inject() -> None:
            await third.wait()
            await fault()

        await asyncio.wait_for(
            asyncio.gather(inject(), *(sender(http) for _ in range(senders))), timeout=240
        )
    return [f"m_{t}" for t in tags]


@pytest.mark.parametrize(
    "service", ["ingest-social", "router", "notifier"], ids=["connector", "router", "notifier"]
)
async def test_kill_9_of_a_service_mid_stream_loses_and_duplicates_nothing(
    harness: StackHarness,
    service: str,
) -> None:
    async def crash_and_restart() -> None:
        harness.kill(service)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(harness.restart, service)

    expected = await _send_with_fault(harness, f"k{service[:3]}", crash_and_restart)
    assert_exactly_once(await harness.wait_stored(expected), expected)


async def test_kill_9_of_the_mail_connector_mid_smtp_stream_loses_and_duplicates_nothing() -> None:
    """Mail servers retry what was not answered 250, so a crash between DATA and the reply
    repeats a mail: the Message-ID keeps it single."""
    async with running_stack({"INBOX_MAIL_DOMAINS": "shop.example"}) as h:
        port = int(h.env["INBOX_SMTP_PORT"])
        ids = [f"fault{i}-{uuid.uuid4().hex[:8]}@customer.example" for i in range(90)]
        queue = list(reversed(ids))
        sent = 0
        third = asyncio.Event()

        async def mta() -> None:
            nonlocal sent
            while queue:
                message_id = queue.pop()
                mail = EmailMessage()
                mail["From"] = f"고객 <{message_id.split('@')[0]}@customer.example>"
                mail["To"] = "cs@shop.example"
                mail["Subject"] = f"주문 문의 {message_id[:8]}"
                mail["Message-ID"] = f"<{message_id}>"
                mail.set_content("주문한 상품이 아직 안 왔어요.")
                deadline = time.monotonic() + 120
                while True:  # as an MTA does: retry until the mail is answered 250
                    try:
                        await aiosmtplib.send(mail, hostname="127.0.0.1", port=port, timeout=10)
                        break
                    except (aiosmtplib.SMTPException, OSError):
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.3)
                sent += 1
                if sent >= len(ids) // 3:
                    third.set()

        async def crash_and_restart() -> None:
            await third.wait()
            h.kill("ingest-mail")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(h.restart, "ingest-mail")

        await asyncio.wait_for(
            asyncio.gather(crash_and_restart(), *(mta() for _ in range(6))), timeout=240
        )
        assert_exactly_once(await h.wait_stored(ids), ids)


async def test_nats_restart_mid_stream_loses_and_duplicates_nothing(
    harness: StackHarness,
) -> None:
    async def restart_nats() -> None:
        await asyncio.to_thread(harness.restart_nats, 1.0)

    expected = await _send_with_fault(harness, "nats", restart_nats)
    assert_exactly_once(await harness.wait_stored(expected), expected)


async def test_store_outage_mid_stream_is_retried_until_it_is_back(harness: StackHarness) -> None:
    async def outage() -> None:
        await asyncio.to_thread(harness.stop_store)
        await asyncio.sleep(3.0)
        await asyncio.to_thread(harness.start_store)

    expected = await _send_with_fault(harness, "store", outage)
    assert_exactly_once(await harness.wait_stored(expected), expected)
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{harness.api}/api/dead-letters", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as resp,
    ):
        assert (await resp.json())["items"] == []  # an outage is not the messages' fault


async def test_duplicate_webhook_deliveries_are_stored_once(harness: StackHarness) -> None:
    tags = [f"dup{i}" for i in range(60)]
    async with aiohttp.ClientSession() as http:
        bodies = [harness.webhook_body(t) for t in tags]
        # Meta retries the very same body; send each three times, concurrently.
        await asyncio.wait_for(
            asyncio.gather(*(harness.deliver(http, b) for b in bodies for _ in range(3))),
            timeout=120,
        )
    expected = [f"m_{t}" for t in tags]
    stored = await harness.wait_stored(expected)
    await asyncio.sleep(1.0)
    assert_exactly_once(await asyncio.to_thread(harness.stored_message_ids), expected)
    assert stored


async def test_slow_sse_consumer_does_not_slow_the_pipeline(harness: StackHarness) -> None:
    async with aiohttp.ClientSession() as http:
        # A client that connects and never reads.
        stalled = await http.get(
            f"{harness.api}/api/events",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=aiohttp.ClientTimeout(total=None),
        )
        try:

            async def nothing() -> None:
                return None

            expected = await _send_with_fault(harness, "slow", nothing, n=300)
            assert_exactly_once(await harness.wait_stored(expected, timeout=60), expected)
        finally:
            stalled.close()
