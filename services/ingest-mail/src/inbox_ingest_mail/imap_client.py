"""One IMAP connection (aioimaplib) with the folder selected, errors translated at the edge:
login refused → AuthError; a missing folder → AuthError (a configuration problem, the
mailbox is marked unhealthy); network trouble, timeouts, server errors → TransientError."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from typing import Any, Final

import aioimaplib

from inbox_core.errors import AuthError, TransientError
from inbox_ingest_mail.mailboxes import Mailbox

COMMAND_TIMEOUT_S: Final = 30.0
FETCH_TIMEOUT_S: Final = 120.0
_UIDVALIDITY: Final = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT: Final = re.compile(rb"UIDNEXT (\d+)")
_LITERAL: Final = re.compile(rb"\{(\d+)\}$")
_NEWS: Final = re.compile(rb"\d+ (?:EXISTS|RECENT)")


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a dropped command's outcome, so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()


def _lines(response: Any) -> list[bytes]:
    return [bytes(line) for line in response.lines]


def _check(response: Any, what: str) -> Any:
    if response.result != "OK":
        detail = b" ".join(_lines(response)[-1:]).decode("utf-8", "replace")[:200]
        raise TransientError(f"IMAP {what} failed: {response.result} {detail}")
    return response


class ImapSession:
    """Connect with `open()`, then search, fetch, flag and wait; `close()` always."""

    def __init__(self, mailbox: Mailbox, *, timeout: float = COMMAND_TIMEOUT_S) -> None:
        self.mailbox = mailbox
        self.timeout = timeout
        self.client: aioimaplib.IMAP4 | None = None
        self.uidvalidity = 0
        self.uidnext = 0
        self.lost: Exception | None = None  # set when the server closed the connection
        self._lost_event = asyncio.Event()

    def _connection_lost(self, error: Exception | None) -> None:
        self.lost = error or ConnectionResetError("connection closed by the server")
        self._lost_event.set()
        if self.client is not None:  # wake a waiting IDLE at once
            self.client.protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.mailbox.ca_file)
        return context

    async def open(self) -> None:
        box = self.mailbox
        try:
            if box.tls:
                self.client = aioimaplib.IMAP4_SSL(
                    box.host, box.port, timeout=self.timeout, ssl_context=self._ssl_context()
                )
            else:
                self.client = aioimaplib.IMAP4(box.host, box.port, timeout=self.timeout)
            self.client.protocol.conn_lost_cb = self._connection_lost
        except (OSError, aioimaplib.AioImapException) as err:
            raise TransientError(f"IMAP connect to {box.host}:{box.port}: {err!r}") from err
        await self._call(self.client.wait_hello_from_server(), f"connect to {box.host}")
        login = await self._call(self.client.login(box.username, box.password), "LOGIN")
        if login.result != "OK":
            raise AuthError(f"IMAP login refused for {box.username} at {box.host}")
        await self.select(box.folder)

    async def select(self, folder: str) -> None:
        assert self.client is not None
        response = await self._call(self.client.select(folder), "SELECT")
        if response.result != "OK":
            raise AuthError(f"IMAP folder {folder!r} cannot be selected")
        text = b"\n".join(_lines(response))
        validity, uidnext = _UIDVALIDITY.search(text), _UIDNEXT.search(text)
        self.uidvalidity = int(validity.group(1)) if validity else 0
        self.uidnext = int(uidnext.group(1)) if uidnext else 0

    def _check_connected(self, what: str) -> None:
        if self.lost is not None:
            raise TransientError(f"IMAP {what}: connection lost ({self.lost!r})")

    async def _call(self, awaitable: Any, what: str, timeout: float | None = None) -> Any:
        """Await a command, bounded by a timeout and by the connection: when the server
        goes away mid-command, fail at once instead of waiting for the timeout."""
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self._lost_event.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=timeout or self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                return task.result()
            self._check_connected(what)
            raise TimeoutError(f"no answer in {timeout or self.timeout}s")
        except (OSError, TimeoutError, aioimaplib.AioImapException) as err:
            raise TransientError(f"IMAP {what}: {err!r}") from err
        finally:
            for pending in (task, lost):
                if not pending.done():
                    pending.cancel()
            task.add_done_callback(_consume)

    def has(self, capability: str) -> bool:
        return self.client is not None and self.client.has_capability(capability)

    async def search(self, *criteria: str) -> list[int]:
        """UIDs matching `criteria`, ascending."""
        assert self.client is not None
        response = _check(
            await self._call(self.client.uid_search(*criteria, charset=None), "SEARCH"), "SEARCH"
        )
        uids: set[int] = set()
        for line in _lines(response)[:-1]:
            line = line.removeprefix(b"SEARCH").strip()
            if re.fullmatch(rb"[\d ]+", line):
                uids.update(int(n) for n in line.split())
        return sorted(uids)

    async def fetch(self, uid: int) -> bytes | None:
        """The whole message, without setting \\Seen (BODY.PEEK); None when it is gone."""
        assert self.client is not None
        response = _check(
            await self._call(
                self.client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "FETCH", FETCH_TIMEOUT_S
            ),
            "FETCH",
        )
        lines = response.lines
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytes | bytearray) and _LITERAL.search(bytes(line)):
                return bytes(lines[i + 1])  # one UID asked: the first literal is its body
        return None

    async def mark_seen(self, uid: int) -> None:
        assert self.client is not None
        _check(
            await self._call(self.client.uid("store", str(uid), "+FLAGS.SILENT (\\Seen)"), "STORE"),
            "STORE",
        )

    async def move(self, uid: int, folder: str) -> None:
        """MOVE when the server has it; else COPY, flag \\Deleted and expunge that UID."""
        assert self.client is not None
        if self.has("MOVE"):
            _check(await self._call(self.client.uid("move", str(uid), folder), "MOVE"), "MOVE")
            return
        _check(await self._call(self.client.uid("copy", str(uid), folder), "COPY"), "COPY")
        _check(
            await self._call(
                self.client.uid("store", str(uid), "+FLAGS.SILENT (\\Deleted)"), "STORE"
            ),
            "STORE",
        )
        if self.has("UIDPLUS"):
            await self._call(self.client.uid("expunge", str(uid)), "EXPUNGE")

    async def refresh(self) -> bool:
        """NOOP: the server brings this session's view of the folder up to date (it does so
        only between commands), so a search that follows sees the mail that arrived since
        the last one. Whether it announced new mail (EXISTS or RECENT)."""
        assert self.client is not None
        noop = _check(await self._call(self.client.noop(), "NOOP"), "NOOP")
        return any(_NEWS.search(line) for line in _lines(noop))

    async def wait_for_news(self, timeout: float) -> None:
        """Until the server announces new mail (IDLE, RFC 2177) or `timeout` passes."""
        assert self.client is not None
        if await self.refresh():
            return  # news arrived since the last search
        try:
            idle = await self._call(self.client.idle_start(timeout=timeout), "IDLE")
            with contextlib.suppress(TimeoutError):
                await self.client.wait_server_push(timeout=timeout + 5)
            self._check_connected("IDLE")
            self.client.idle_done()
            await self._call(idle, "IDLE DONE")
        except (aioimaplib.AioImapException, AttributeError) as err:
            raise TransientError(f"IMAP IDLE: {err!r}") from err

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            idling = client.has_pending_idle()
            if self.lost is None and not idling and client.get_state() in ("AUTH", "SELECTED"):
                await asyncio.wait_for(client.logout(), 2)
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()
