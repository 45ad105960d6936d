"""The mail channel, as registered (entry point `inbox.channels` in this package's
pyproject.toml): its console badge and its part in `make demo` (an SMTP sink for replies,
customers writing over SMTP). The service builds the channel itself (SMTP and IMAP in)."""

from __future__ import annotations

import smtplib
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Final

from inbox_core.channels import Badge, ChannelRegistration, Simulator
from inbox_core.demo_phrases import CUSTOMERS, MAIL_INQUIRIES

if TYPE_CHECKING:
    from inbox_core.channels import DemoSite

SERVICE: Final = "ingest-mail"
FOLLOW_UP_SHARE: Final = 0.4  # of mails from a customer who wrote before


def _sink_start(site: DemoSite) -> list[str] | None:
    """A local SMTP sink receives the replies, unless a relay is configured."""
    if site.env.get("SMTP_RELAY_URL"):
        return None
    site.env["SMTP_RELAY_URL"] = f"smtp://127.0.0.1:{site.port}"
    sink = f"127.0.0.1:{site.port}"
    return [sys.executable, "-m", "aiosmtpd", "-n", "-l", sink, "-c", "aiosmtpd.handlers.Debugging"]


class _Customers:
    """Customers writing to the shop; some follow up in the same thread."""

    def __init__(self) -> None:
        self.last_ids: dict[str, str] = {}

    def __call__(self, site: DemoSite) -> None:
        name, address = site.rng.choice(CUSTOMERS)
        subject, body = site.rng.choice(MAIL_INQUIRIES)
        msg = EmailMessage()
        msg["From"] = f"{name} <{address}>"
        msg["To"] = "cs@shop.example"
        previous = self.last_ids.get(address)
        if previous and site.rng.random() < FOLLOW_UP_SHARE:
            # A follow-up in the same thread: joins the existing conversation.
            msg["Subject"] = f"Re: {subject}"
            msg["In-Reply-To"] = previous
            msg["References"] = previous
            body = "추가로 문의드려요. 빠른 답변 부탁드립니다!"
        else:
            msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="example.com")
        self.last_ids[address] = msg["Message-ID"]
        msg.set_content(f"안녕하세요.\n\n{body}\n\n{name} 드림")
        port = int(site.env.get("INBOX_SMTP_PORT", "2525"))
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)


MAIL = ChannelRegistration(
    name="mail",
    service=SERVICE,
    badge=Badge({"ko": "메일", "en": "Mail"}, "#475467"),
    simulator=Simulator(start=_sink_start, customer=_Customers(), weight=2),
    order=10,
)
