"""One IMAP folder as a `PollingChannel`: `PollerRunner` owns the loop, the cursor, the
retries and the auth wait; this module owns the IMAP connection.

Per page, in UID order: fetch with BODY.PEEK (the mail stays unseen) → keep it
(`MailIntake.prepare`) → the runner publishes (PubAck) → `acknowledge` marks it \\Seen or
moves it and reports bounces → the runner saves the cursor. A crash between two steps
repeats the mail, and the bus and the router drop the repeat (`Nats-Msg-Id`, unique keys):
at-least-once, nothing lost, nothing seen before it is safe.

Between syncs the runner calls `wait`: IDLE (RFC 2177) when the server has it, so new mail
arrives at once, else a plain pause. The connection is kept between syncs and dropped on
any error (the runner backs off, the next poll reconnects). After a plain pause the poll
starts with NOOP: a server updates a session's view of the folder only between commands,
so without it the search would miss the mail of the pause until the poll after.

The cursor (collection `cursors`, `_id` `mail:<account>:imap:<folder>`) holds UIDVALIDITY
and the last UID published. When UIDVALIDITY changes (the server renumbered the folder),
the old UIDs mean nothing: the poll starts over as on first run (`initial`: unseen mail,
all mail, or only new mail).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Final

import aiohttp

from inbox_core.connector import Page, PollingChannel, PollStatus
from inbox_core.errors import AuthError
from inbox_core.logging import get_logger
from inbox_ingest_mail.imap_client import ImapSession
from inbox_ingest_mail.intake import MailIntake
from inbox_ingest_mail.mailboxes import Mailbox
from inbox_ingest_mail.parse_mail import CHANNEL

log = get_logger(__name__)

PAGE_SIZE: Final = 20  # mails published (and their cursor saved) together


class ImapMailbox(PollingChannel):
    """One folder of one mailbox; its single board is `imap:<folder>`."""

    name = CHANNEL

    def __init__(
        self, mailbox: Mailbox, intake: MailIntake, *, idle_s: float, page_size: int = PAGE_SIZE
    ) -> None:
        super().__init__(mailbox.account)
        self.mailbox = mailbox
        self.intake = intake
        self.idle_s = idle_s
        self.page_size = page_size
        # One board per folder: the cursor is `mail:<account>:imap:<folder>`.
        self.boards = (f"imap:{mailbox.folder}",)  # type: ignore[misc]
        self.session: ImapSession | None = None
        self.idle = False
        self.published = 0
        self.reconnects = 0
        self._fetched: list[int] = []  # UIDs of the page on its way to the bus

    # --- the connection ------------------------------------------------------------------
    async def _open(self) -> ImapSession:
        if self.session is not None and self.session.lost is None:
            return self.session
        await self.close()
        session = ImapSession(self.mailbox)
        try:
            await session.open()
        except BaseException:
            await session.close()
            raise
        self.session = session
        return session

    async def close(self) -> None:
        session, self.session, self.idle = self.session, None, False
        if session is not None:
            await session.close()

    async def _dropped(self, err: BaseException) -> None:
        """Something failed: close the connection, so the next poll reconnects."""
        if isinstance(err, Exception) and not isinstance(err, AuthError):
            self.reconnects += 1
        await self.close()

    # --- one page ------------------------------------------------------------------------
    async def _pending(
        self, session: ImapSession, cursor: dict[str, Any] | None
    ) -> tuple[list[int], int, bool]:
        """UIDs to publish now; the last UID already handled; whether this starts over.

        Starting over (no cursor, or UIDVALIDITY changed): `initial` picks the mail (unseen,
        all, or none), and everything the folder held at SELECT counts as handled once they
        are on the bus, so a seen mail is not published later because its UID is higher."""
        if cursor is not None and cursor.get("uidvalidity") == session.uidvalidity:
            last = int(cursor.get("last_uid", 0))
            found = await session.search("UID", f"{last + 1}:*")
            return [uid for uid in found if uid > last], last, False
        if cursor is not None:
            log.warning("uidvalidity changed, starting over", account=self.account)
        last = max(0, session.uidnext - 1)
        if self.mailbox.initial == "new":
            return [], last, True
        found = await session.search("UNSEEN" if self.mailbox.initial == "unseen" else "ALL")
        return found, last, True

    async def poll(
        self, board: str, cursor: dict[str, Any] | None, http: aiohttp.ClientSession, now: datetime
    ) -> Page:
        try:
            kept = self.session is not None and self.session.lost is None
            session = await self._open()
            if kept and not self._idles(session):
                await session.refresh()  # the mail of the pause (a new SELECT sees it)
            uids, last, starting_over = await self._pending(session, cursor)
            # Starting over: one page, as later pages read every UID after the cursor.
            size = len(uids) if starting_over else self.page_size
            messages = []
            self._fetched = []
            recipient = self.mailbox.address or self.mailbox.username
            for uid in uids[:size]:
                raw = await session.fetch(uid)
                if raw is not None:
                    messages += await self.intake.prepare(
                        raw,
                        {self.account: {"recipient": recipient, "imap_uid": uid}},
                        source="imap",
                    )
                    self._fetched.append(uid)
                last = max(last, uid)
        except BaseException as err:
            await self._dropped(err)
            raise
        state = {"uidvalidity": session.uidvalidity, "last_uid": last}
        return Page(messages=messages, cursor=state, more=len(uids) > size)

    async def acknowledge(self, board: str, page: Page) -> None:
        """The page is on the bus: mark its mails seen (or move them), report bounces."""
        try:
            session = await self._open()
            for uid in self._fetched:
                if self.mailbox.move_to:
                    await session.move(uid, self.mailbox.move_to)
                elif self.mailbox.after_publish == "seen":
                    await session.mark_seen(uid)
        except BaseException as err:
            await self._dropped(err)
            raise
        self.published += len(self._fetched)
        self._fetched = []
        await self.intake.published(page.messages)

    def _idles(self, session: ImapSession) -> bool:
        """Whether `wait` uses IDLE: configured (`idle`) and offered by the server."""
        return self.mailbox.idle and session.has("IDLE")

    async def wait(self, seconds: float) -> None:
        """Until new mail (IDLE) or `seconds` (no IDLE: the poll interval)."""
        session = self.session
        if session is None or not self._idles(session):
            await asyncio.sleep(seconds)
            return
        self.idle = True
        try:
            await session.wait_for_news(self.idle_s)
        except BaseException as err:
            await self._dropped(err)
            raise
        finally:
            self.idle = False

    def health(self, status: PollStatus) -> dict[str, Any]:
        """What /healthz shows for this mailbox (`status`: the runner's for its board)."""
        return {
            "connected": self.session is not None and self.session.lost is None,
            "idle": self.idle,
            "last_sync": status.last_success.isoformat() if status.last_success else None,
            "last_error": status.last_error,
            "auth_failed": status.auth_failed,
            "published": self.published,
            "reconnects": self.reconnects,
        }
