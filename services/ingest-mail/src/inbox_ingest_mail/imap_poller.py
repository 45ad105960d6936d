"""One poller per configured IMAP mailbox: sync, then wait for news (IDLE, else a poll
interval), forever; reconnect with exponential backoff and jitter (tenacity).

Per mail, in UID order: fetch with BODY.PEEK (the mail stays unseen) → keep and publish
(`MailIntake.accept`, PubAck) → mark \\Seen or move it (`after_publish`) → save the cursor.
A crash between two steps repeats the mail, and the bus and the router drop the repeat
(`Nats-Msg-Id`, unique keys): at-least-once, nothing lost, nothing seen before it is safe.

The cursor (collection `cursors`, `_id` `mail:<account>:imap:<folder>`) holds UIDVALIDITY
and the last UID published. When UIDVALIDITY changes (the server renumbered the folder),
the old UIDs mean nothing: the poller starts over as on first run (`initial`: unseen
mail, all mail, or only new mail).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from inbox_core import metrics
from inbox_core.errors import AuthError, TransientError
from inbox_core.logging import get_logger
from inbox_core.schema import utcnow
from inbox_core.store import CURSORS
from inbox_ingest_mail.imap_client import ImapSession
from inbox_ingest_mail.intake import MailIntake
from inbox_ingest_mail.mailboxes import Mailbox
from inbox_ingest_mail.parse_mail import CHANNEL

log = get_logger(__name__)


@dataclass
class MailboxStatus:
    """What /healthz shows for one mailbox."""

    connected: bool = False
    idle: bool = False
    last_sync: datetime | None = None
    last_error: str | None = None
    auth_failed: bool = False
    published: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "idle": self.idle,
            "last_sync": self.last_sync.isoformat() if self.last_sync else None,
            "last_error": self.last_error,
            "auth_failed": self.auth_failed,
            "published": self.published,
            "reconnects": self.reconnects,
        }


@dataclass
class ImapPoller:
    mailbox: Mailbox
    intake: MailIntake
    poll_s: float
    idle_s: float
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    auth_retry_s: float = 300.0
    status: MailboxStatus = field(default_factory=MailboxStatus)
    _failures: int = 0

    # --- cursor -------------------------------------------------------------------------
    @property
    def _db(self) -> Any:
        return self.intake.connector.runtime.store.db

    async def load_cursor(self) -> dict[str, Any] | None:
        doc = await self._db[CURSORS].find_one({"_id": self.mailbox.cursor_key})
        return None if doc is None else dict(doc["state"])

    async def save_cursor(self, uidvalidity: int, last_uid: int) -> None:
        await self._db[CURSORS].update_one(
            {"_id": self.mailbox.cursor_key},
            {"$set": {"state": {"uidvalidity": uidvalidity, "last_uid": last_uid},
                      "updated_at": utcnow()}},
            upsert=True,
        )  # fmt: skip

    # --- one pass -----------------------------------------------------------------------
    async def _pending(self, session: ImapSession) -> list[int]:
        """UIDs to publish now, after bringing the cursor in line with UIDVALIDITY."""
        cursor = await self.load_cursor()
        if cursor is not None and cursor.get("uidvalidity") == session.uidvalidity:
            last = int(cursor.get("last_uid", 0))
            return [uid for uid in await session.search("UID", f"{last + 1}:*") if uid > last]
        if cursor is not None:
            log.warning("uidvalidity changed, starting over", account=self.mailbox.account)
        initial = self.mailbox.initial
        if initial == "new":
            await self.save_cursor(session.uidvalidity, max(0, session.uidnext - 1))
            return []
        return await session.search("UNSEEN" if initial == "unseen" else "ALL")

    async def _publish_one(self, session: ImapSession, uid: int) -> None:
        raw = await session.fetch(uid)
        if raw is not None:
            recipient = self.mailbox.address or self.mailbox.username
            await self.intake.accept(
                raw,
                {self.mailbox.account: {"recipient": recipient, "imap_uid": uid}},
                source="imap",
            )
            if self.mailbox.move_to:
                await session.move(uid, self.mailbox.move_to)
            elif self.mailbox.after_publish == "seen":
                await session.mark_seen(uid)
            self.status.published += 1
        await self.save_cursor(session.uidvalidity, uid)

    async def sync(self, session: ImapSession) -> int:
        """Publish everything pending; the number of mails handled."""
        uids = await self._pending(session)
        for uid in uids:
            await self._publish_one(session, uid)
        self.status.last_sync = utcnow()
        metrics.POLL_LAST_SUCCESS.labels(CHANNEL, self.mailbox.account).set(
            self.status.last_sync.timestamp()
        )
        return len(uids)

    # --- the loop -----------------------------------------------------------------------
    async def _session(self) -> None:
        """Connect, then sync and wait until something breaks (raises) or we are cancelled."""
        session = ImapSession(self.mailbox)
        try:
            await self._serve(session)
        except PyMongoError as err:  # the store is as transient as the server
            raise TransientError(f"store: {err}") from err
        finally:
            self.status.connected = self.status.idle = False
            await session.close()

    async def _serve(self, session: ImapSession) -> None:
        await session.open()
        self.status.connected, self.status.auth_failed = True, False
        use_idle = self.mailbox.idle and session.has("IDLE")
        while True:
            await self.sync(session)
            self._failures, self.status.last_error = 0, None
            self.status.idle = use_idle
            if use_idle:
                await session.wait_for_news(self.idle_s)
            else:
                await asyncio.sleep(self.mailbox.poll_s or self.poll_s)
            self.status.idle = False

    def _backoff(self, state: RetryCallState) -> float:
        delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** max(0, self._failures - 1))
        return delay * random.uniform(0.5, 1.0)

    def _failed(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._failures += 1
        self.status.reconnects += 1
        self.status.last_error = f"{type(error).__name__}: {error}"
        metrics.POLL_ERRORS.labels(CHANNEL, self.mailbox.account, "transient").inc()
        log.warning("imap mailbox failed, reconnecting", account=self.mailbox.account,
                    error=self.status.last_error, failures=self._failures)  # fmt: skip

    async def run(self) -> None:
        """Forever: transient trouble → reconnect with backoff; refused login → wait long."""
        while True:
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(TransientError),
                    wait=self._backoff,
                    before_sleep=self._failed,
                ):
                    with attempt:
                        await self._session()
            except AuthError as err:
                self.status.auth_failed, self.status.last_error = True, f"auth: {err}"
                metrics.POLL_ERRORS.labels(CHANNEL, self.mailbox.account, "auth").inc()
                log.error("imap login failed", account=self.mailbox.account, error=str(err))
                await asyncio.sleep(self.auth_retry_s)
