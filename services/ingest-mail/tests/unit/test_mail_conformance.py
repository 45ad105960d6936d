"""Mail runs the shared conformance suite (inbox_core.testing.conformance): `.eml` pairs,
and replies through a local SMTP relay that answers as real relays do when they refuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox_core.connector import Channel
from inbox_core.embedded import free_port
from inbox_core.schema import Customer, InboundMessage, OutboundReply
from inbox_core.testing.conformance import (
    ChannelSpec,
    Exempt,
    Fixture,
    SendFault,
    SendPlatform,
    channel_conformance,
)
from inbox_ingest_mail.channels.mail import MailChannel
from inbox_ingest_mail.parse_mail import normalise_mail
from inbox_ingest_mail.settings import MailSettings

OWN = frozenset({"shop.example"})
# What a relay answers (SMTP has no Retry-After: the SDK's nak delay applies).
REFUSALS: dict[SendFault, tuple[str, str]] = {
    SendFault.RATE_LIMITED: ("MAIL", "421 4.7.0 Too many messages, slow down"),
    SendFault.SERVER_ERROR: ("DATA", "451 4.3.0 Local error in processing"),
    SendFault.UNAVAILABLE: ("MAIL", "421 4.3.2 System not accepting network messages"),
    SendFault.REFUSED: ("DATA", "554 5.7.1 Message rejected as spam"),
    SendFault.CREDENTIALS_REFUSED: ("MAIL", "530 5.7.0 Authentication required"),
}


def normalise(fixture: Fixture) -> list[InboundMessage]:
    """One mail as it arrived (SMTP DATA or an IMAP FETCH), for the fixture's account."""
    account = fixture.account("cs")
    return [normalise_mail(fixture.raw, account, fixture.received_at, own_domains=OWN)]


@dataclass
class Relay:
    """An SMTP relay on a free port; `refuse` makes it answer one command with a code."""

    refuse: tuple[str, str] | None = None
    accepted: int = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse and self.refuse[0] == "MAIL":
            return self.refuse[1]
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse and self.refuse[0] == "DATA":
            return self.refuse[1]
        self.accepted += 1
        return "250 2.0.0 queued"


@asynccontextmanager
async def relay_platform() -> AsyncIterator[SendPlatform]:
    loop = asyncio.get_running_loop()
    relay = Relay()
    server = await loop.create_server(
        lambda: SMTP(relay, hostname="relay.test", loop=loop), "127.0.0.1", 0
    )
    url = f"smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:

        def channel_at(relay_url: str) -> Channel:
            return MailChannel("cs", MailSettings(SMTP_RELAY_URL=relay_url))

        async def fail(fault: SendFault, http: aiohttp.ClientSession) -> None:
            relay.refuse = REFUSALS[fault]

        reply = OutboundReply(
            conversation_id="conv-1042",
            channel="mail",
            account="cs",
            customer=Customer(id="hong@naver.com", email="hong@naver.com", name="홍길동"),
            subject="Re: [#1042] 교환 문의드립니다",
            text="L 사이즈로 교환 접수했습니다.",
            agent="민지",
        )
        closed = f"smtp://127.0.0.1:{free_port()}"
        yield SendPlatform(url, channel_at, reply, fail, closed, honours_retry_after=False)
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


TestMailConformance = channel_conformance(
    ChannelSpec(
        name="mail",
        fixtures=Path(__file__).parents[1] / "fixtures" / "mail",
        normalise=normalise,
        verify=Exempt(
            "mail arrives by SMTP or IMAP, not as a signed request; our own mail coming back "
            "is caught by the loop guard (automatic_mail, own Message-IDs)"
        ),
        send=relay_platform,
        poll=Exempt(
            "needs a mail server: tests/service/imap/test_mail_imap_conformance.py runs it "
            "against dovecot"
        ),
        min_fixtures=40,
    )
)
