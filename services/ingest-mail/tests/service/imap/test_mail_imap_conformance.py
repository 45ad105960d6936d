"""The poll part of the shared conformance suite for mail: the IMAP mailbox (ImapMailbox,
a PollingChannel) against a real dovecot, with the real store keeping the raw mail. The
other parts run with the unit tests (tests/unit/test_mail_conformance.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from inbox_core.connector import Connector
from inbox_core.runtime import Runtime
from inbox_core.settings import ServiceSettings
from inbox_core.testing.conformance import (
    ChannelSpec,
    Exempt,
    PollPlatform,
    channel_conformance,
)
from inbox_ingest_mail.imap_mailbox import ImapMailbox
from inbox_ingest_mail.intake import MailIntake
from inbox_ingest_mail.parse_mail import normalise_mail

TIMEOUT = 15.0
OWN = frozenset({"naver.example"})


def customer_mail(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = "홍길동 <hong@naver.com>"
    message["To"] = "shop@naver.example"
    message["Subject"] = f"배송 문의 {n}"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.naver.com>"
    message.set_content(f"주문한 운동화가 아직 안 왔어요. ({n})")
    return message.as_bytes()


def last_uid(state: Mapping[str, Any]) -> tuple[int, int]:
    """How far an IMAP cursor has read (the same UIDVALIDITY: UIDs only grow)."""
    return int(state["uidvalidity"]), int(state["last_uid"])


@asynccontextmanager
async def imap_platform(request: pytest.FixtureRequest) -> AsyncIterator[PollPlatform]:
    # Sync fixtures only: the test's event loop is already running.
    request.getfixturevalue("core_env")
    user = request.getfixturevalue("dovecot").add_user()
    runtime = Runtime("test-imap-conformance", ServiceSettings())
    await asyncio.wait_for(runtime.start(), TIMEOUT)
    channel = ImapMailbox(user.mailbox(), MailIntake(Connector(runtime), OWN), idle_s=1.0)
    count = 0

    async def add(n: int) -> None:
        nonlocal count
        for _ in range(n):
            count += 1
            await user.append(customer_mail(count))

    try:
        yield PollPlatform(channel, channel.boards[0], add, last_uid)
    finally:
        await asyncio.wait_for(channel.close(), TIMEOUT)
        await asyncio.wait_for(runtime.stop(), TIMEOUT)


TestMailImapConformance = channel_conformance(
    ChannelSpec(
        name="mail",
        fixtures=Path(__file__).parents[2] / "fixtures" / "mail",
        normalise=lambda f: [normalise_mail(f.raw, "cs", f.received_at, own_domains=OWN)],
        verify=Exempt("run with the unit tests (tests/unit/test_mail_conformance.py)"),
        send=Exempt("run with the unit tests (tests/unit/test_mail_conformance.py)"),
        poll=imap_platform,
    ),
    parts=("poll",),
)
