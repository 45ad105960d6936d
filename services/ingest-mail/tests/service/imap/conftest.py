"""A real IMAP server for the poller's tests: Debian's dovecot (`dovecot-imapd`), started on
an ephemeral port with a temp config, temp maildirs and a passwd-file, stopped and removed
after. Parallel-safe: every server has its own port and directory; every test gets its own
user (and so its own mailbox) on the session's server, or its own server when it restarts it.

Works as root (mail processes run as the `dovecot` user, or `nobody`) and as a normal user
(everything runs as that user). A missing `dovecot` binary fails with the install command:
`make test` installs `dovecot-imapd` first.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aioimaplib
import pytest

from inbox_core.embedded import ManagedProcess, free_port, port_open, wait_until
from inbox_ingest_mail.mailboxes import Mailbox

TIMEOUT = 15.0


def _dovecot_binary() -> str:
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        pytest.fail(
            "dovecot is not installed: the IMAP tests need a real server. "
            "Install it with `apt-get install -y dovecot-imapd` (`make test` does this).",
            pytrace=False,
        )
    return found


def _mail_user() -> tuple[int, int, str]:
    """(uid, gid, name) the mail processes run as."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid(), getpass.getuser()
    for name in ("dovecot", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid, name
    pytest.fail("neither a 'dovecot' nor a 'nobody' user exists to run mail processes")


@dataclass
class ImapUser:
    host: str
    port: int
    username: str
    password: str

    def mailbox(self, **options: Any) -> Mailbox:
        """This user's INBOX as the poller reads it: account `naver`, plain IMAP."""
        return Mailbox(
            account="naver",
            host=self.host,
            port=self.port,
            tls=False,
            username=self.username,
            password=self.password,
            address="shop@naver.example",
            **options,
        )

    async def client(self) -> aioimaplib.IMAP4:
        client = aioimaplib.IMAP4(self.host, self.port, timeout=TIMEOUT)
        await asyncio.wait_for(client.wait_hello_from_server(), TIMEOUT)
        response = await asyncio.wait_for(client.login(self.username, self.password), TIMEOUT)
        assert response.result == "OK", response
        return client

    async def _with_client(self, action: str, *args: str | bytes) -> list[bytes]:
        client = await self.client()
        try:
            if action == "append":
                mail, folder, flags = args
                assert isinstance(mail, bytes) and isinstance(folder, str)
                response = await asyncio.wait_for(
                    client.append(mail, mailbox=folder, flags=str(flags) or None), TIMEOUT
                )
            elif action == "create":
                response = await asyncio.wait_for(client.create(str(args[0])), TIMEOUT)
            else:  # flags of every message in a folder
                await asyncio.wait_for(client.select(str(args[0])), TIMEOUT)
                response = await asyncio.wait_for(
                    client.uid("fetch", "1:*", "(UID FLAGS)"), TIMEOUT
                )
            assert response.result == "OK", response
            return [bytes(line) for line in response.lines]
        finally:
            await asyncio.wait_for(client.logout(), TIMEOUT)

    async def append(self, mail: bytes, folder: str = "INBOX", flags: str = "") -> None:
        """Deliver a mail the way a client files one: IMAP APPEND (`flags`: e.g. "\\Seen")."""
        await self._with_client("append", mail, folder, flags)

    async def create_folder(self, folder: str) -> None:
        await self._with_client("create", folder)

    async def flags(self, folder: str = "INBOX") -> dict[int, str]:
        """UID → FLAGS text of every message in `folder`."""
        found: dict[int, str] = {}
        for line in await self._with_client("flags", folder):
            text = line.decode("utf-8", "replace")
            if "FETCH" in text and "UID " in text:
                uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                found[uid] = (
                    text.split("FLAGS (", 1)[1].split(")", 1)[0] if "FLAGS (" in text else ""
                )
        return found


@dataclass
class DovecotServer:
    root: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    @property
    def passwd(self) -> Path:
        """The passwd-file directory: `<root>/passwd/<user>`."""
        return self.root / "passwd"

    def _config(self) -> str:
        uid, gid, user = _mail_user()
        login_user = "dovenull" if os.geteuid() == 0 else user
        internal_user = "dovecot" if os.geteuid() == 0 else user
        unprivileged = os.geteuid() != 0
        return "\n".join(
            [
                f"base_dir = {self.root}/run",
                f"state_dir = {self.root}/state",
                f"log_path = {self.root}/dovecot.log",
                f"info_log_path = {self.root}/dovecot.log",
                "protocols = imap",
                "listen = 127.0.0.1",
                "ssl = no",
                "disable_plaintext_auth = no",
                "auth_mechanisms = plain login",
                "auth_failure_delay = 0",
                "auth_verbose = yes",
                "mail_fsync = never",
                f"mail_location = maildir:{self.root}/mail/%u",
                "first_valid_uid = 1",
                f"default_internal_user = {internal_user}",
                f"default_login_user = {login_user}",
                "passdb {",
                "  driver = passwd-file",
                f"  args = scheme=PLAIN username_format=%u {self.passwd}/%u",
                "}",
                "userdb {",
                "  driver = static",
                f"  args = uid={uid} gid={gid} home={self.root}/mail/%u",
                "}",
                "service imap-login {",
                "  inet_listener imap {",
                "    address = 127.0.0.1",
                f"    port = {self.port}",
                "  }",
                "  inet_listener imaps {",
                "    port = 0",
                "  }",
                "  chroot =" if unprivileged else "",
                "}",
                "service anvil {",
                "  chroot =" if unprivileged else "",
                "}",
                "",
            ]
        )

    def start(self) -> DovecotServer:
        binary = _dovecot_binary()
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        uid, gid, _ = _mail_user()
        os.chown(self.root / "mail", uid, gid)
        self.passwd.mkdir(exist_ok=True)
        config = self.root / "dovecot.conf"
        config.write_text(self._config(), encoding="utf-8")
        self.process = ManagedProcess(
            "dovecot", [binary, "-F", "-c", str(config)], self.root / "dovecot.stdout.log"
        ).start()
        wait_until(lambda: port_open("127.0.0.1", self.port), TIMEOUT, "dovecot", self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=5)
            self.process = None

    def add_user(self) -> ImapUser:
        name, password = f"u{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
        # One passwd-file per user: dovecot re-reads a changed passwd-file at most once a
        # second, so a user appended to a shared file could stay unknown for that second.
        (self.passwd / name).write_text(f"{name}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        return ImapUser("127.0.0.1", self.port, name, password)


def _new_root() -> Path:
    # Not under pytest's tmp_path: its 0700 parents would keep the mail user out.
    root = Path(tempfile.mkdtemp(prefix="inbox-dovecot-"))
    root.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """One server per test session (per xdist worker); tests use their own users."""
    server = DovecotServer(_new_root()).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def own_dovecot() -> Iterator[DovecotServer]:
    """A server of the test's own, for tests that stop and restart it."""
    server = DovecotServer(_new_root()).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
async def imap_user(dovecot: DovecotServer) -> AsyncIterator[ImapUser]:
    yield dovecot.add_user()
