"""A mailbox polled without IDLE (`idle: false`, or a server without it) against a real
dovecot: each poll finds the mail that arrived since the one before, not a poll later. The
channel is polled by hand, as `PollerRunner` does (poll, acknowledge, wait), so "the next
poll" is exact and no test waits on a clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

from inbox_core.connector import Connector, Page
from inbox_core.runtime import Runtime
from inbox_core.settings import ServiceSettings
from inbox_ingest_mail.imap_mailbox import ImapMailbox
from inbox_ingest_mail.intake import MailIntake

TIMEOUT = 15.0


def customer_mail(message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "홍길동 <hong@naver.com>"
    message["To"] = "shop@naver.example"
    message["Subject"] = "배송 문의드립니다"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("주문한 운동화가 아직 안 왔어요.")
    return message.as_bytes()


@pytest.fixture
async def polled_mailbox(core_env: dict[str, str], imap_user: Any) -> AsyncIterator[Any]:
    """(the IMAP user, a function running one poll cycle that returns the page's ids)."""
    runtime = Runtime("test-imap-without-idle", ServiceSettings())
    await asyncio.wait_for(runtime.start(), TIMEOUT)
    mailbox = imap_user.mailbox(initial="all", idle=False)
    channel = ImapMailbox(mailbox, MailIntake(Connector(runtime), frozenset()), idle_s=1.0)
    board = channel.boards[0]
    cursor: dict[str, Any] | None = None

    async def poll_once(http: aiohttp.ClientSession) -> list[str]:
        nonlocal cursor
        page: Page = await asyncio.wait_for(
            channel.poll(board, cursor, http, datetime.now(UTC)), TIMEOUT
        )
        await asyncio.wait_for(channel.acknowledge(board, page), TIMEOUT)
        cursor = dict(page.cursor)
        await asyncio.wait_for(channel.wait(0), TIMEOUT)  # the poll interval, made short
        return [m.external_id for m in page.messages]

    try:
        yield imap_user, poll_once
    finally:
        await asyncio.wait_for(channel.close(), TIMEOUT)
        await asyncio.wait_for(runtime.stop(), TIMEOUT)


async def test_mail_arriving_between_polls_is_found_by_the_next_poll_without_idle(
    polled_mailbox: Any,
) -> None:
    user, poll_once = polled_mailbox
    await user.append(customer_mail("before@naver.com"))
    async with aiohttp.ClientSession() as http:
        assert await poll_once(http) == ["before@naver.com"]

        await user.append(customer_mail("between@naver.com"))
        assert await poll_once(http) == ["between@naver.com"]

        assert await poll_once(http) == []  # and found once only
        await user.append(customer_mail("third@naver.com"))
        assert await poll_once(http) == ["third@naver.com"]
