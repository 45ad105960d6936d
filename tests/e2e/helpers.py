"""What the e2e tests share: the SMTP sink the stack relays customer mail to, a customer's
mail sent to the stack's SMTP port, and the reference console in Debian's Chromium."""

from __future__ import annotations

import email.policy
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from inbox_core.embedded import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WAIT_MS = 20_000  # every browser wait and assertion gives up after this

# --- mail ---------------------------------------------------------------------------------


class SmtpSink:
    """The stack's mail relay (SMTP_RELAY_URL): keeps every mail it is handed, with the
    envelope's recipients."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=email.policy.default)
        with self.changed:
            self.mails.append((list(envelope.rcpt_tos), mail))  # type: ignore[arg-type]
            self.changed.notify_all()
        return "250 OK"

    def matching(self, needle: str) -> list[EmailMessage]:
        """The mails with `needle` in their subject or plain text."""
        with self.changed:
            return [
                m for _, m in self.mails if needle in str(m["Subject"]) or needle in mail_text(m)
            ]

    def wait_for(
        self,
        wanted: Callable[[EmailMessage], bool],
        count: int = 1,
        timeout: float = 30,
        to: str | None = None,
    ) -> list[EmailMessage]:
        """Every wanted mail (to `to`, when given), once there are `count` of them."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [m for rcpts, m in self.mails if (to is None or to in rcpts) and wanted(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} mails reached the sink ({len(self.mails)} in all)"
                    )
                self.changed.wait(left)


@contextmanager
def smtp_sink_server() -> Iterator[tuple[SmtpSink, int]]:
    """A running SMTP sink on an ephemeral port: (sink, port)."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


def mail_text(mail: EmailMessage) -> str:
    """The plain-text body of a mail (single part or multipart/alternative)."""
    body = mail.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


def send_mail(
    smtp_port: int,
    subject: str,
    body: str,
    sender: str = "김민수 <minsu@example.com>",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> str:
    """A customer's mail to the shop, over SMTP to the stack; its Message-ID."""
    # Long ids (ours are ~90 characters) stay on one line, as mail programs send them; the
    # default policy would fold them into encoded words no mail program writes.
    mail = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    mail["From"] = sender
    mail["To"] = "cs@shop.example"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@example.com>"
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(body)
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=15) as smtp:
        smtp.send_message(mail)
    return str(mail["Message-ID"])


# --- the console in Chromium -----------------------------------------------------------------


def launch_chromium(pw: Playwright, args: Sequence[str] = CHROMIUM_ARGS) -> Browser:
    """Debian's Chromium, headless (a fresh temporary profile of its own); browser
    assertions wait WAIT_MS."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's Chromium is missing at {CHROMIUM}: `apt-get install chromium` "
            "(`make test` installs it when it can)"
        )
    expect.set_options(timeout=WAIT_MS)
    return pw.chromium.launch(
        executable_path=str(CHROMIUM), args=list(args), headless=True, timeout=60_000
    )


def new_console_context(browser: Browser, **options: Any) -> BrowserContext:
    """A browser context the size of an agent's screen, in Korean."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="ko-KR", **options
    )
    context.set_default_timeout(WAIT_MS)
    return context


def sign_in(page: Page, base_url: str, token: str) -> list[str]:
    """Opens the console and signs in with `token`, waiting for the live event stream;
    the errors the page raises from now on (a test asserts there are none)."""
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{base_url}/")
    page.fill("#login-token", token)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return errors
