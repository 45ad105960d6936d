"""IMAP mailboxes to poll, from the file named by `INBOX_IMAP_ACCOUNTS` (YAML or JSON).

```yaml
mailboxes:
  - account: cs                                   # the account (bus subject token)
    url: imaps://shop%40naver.com@imap.naver.com/INBOX   # imaps:// (993) or imap:// (143, plain)
    password_env: NAVER_IMAP_PASSWORD             # or `password:`, or in the URL
    address: shop@naver.com                       # From of replies (default: the user name)
    name: 쇼핑몰 고객센터                          # display name of replies (optional)
    after_publish: seen                           # seen (default) | move:<folder> | keep
    initial: unseen                               # unseen (default) | all | new
    smtp_url_env: NAVER_SMTP_URL                  # relay for this account's replies (optional)
```
Secrets (`password`, `smtp_url`) may sit in the file or, better, in the env variables
named by `password_env` / `smtp_url_env`. Errors name the entry and the field, never a secret.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

import yaml

from inbox_core.schema import ACCOUNT_RE
from inbox_ingest_mail.settings import parse_relay_url

_SCHEMES: Final = {"imaps": (993, True), "imap": (143, False)}
_AFTER: Final = re.compile(r"^(seen|keep|move:.+)$")
Initial = Literal["unseen", "all", "new"]


@dataclass(frozen=True)
class Mailbox:
    account: str
    host: str
    port: int
    tls: bool
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    address: str | None = None
    name: str | None = None
    after_publish: str = "seen"  # seen | keep | move:<folder>
    initial: Initial = "unseen"
    poll_s: float | None = None
    idle: bool = True
    ca_file: str | None = None
    smtp_url: str | None = field(default=None, repr=False)

    @property
    def move_to(self) -> str | None:
        return self.after_publish[5:] if self.after_publish.startswith("move:") else None

    @property
    def cursor_key(self) -> str:
        return f"mail:{self.account}:imap:{self.folder}"


def _secret(entry: dict[str, Any], key: str, where: str) -> str | None:
    if entry.get(key) is not None:
        return str(entry[key])
    env = entry.get(f"{key}_env")
    if env is None:
        return None
    value = os.environ.get(str(env))
    if value is None:
        raise ValueError(f"{where}: {key}_env names {env}, which is not set")
    return value


def _mailbox(entry: Any, where: str, defaults: dict[str, Any]) -> Mailbox:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping")
    fields: dict[str, Any] = {}
    if url := entry.get("url"):
        parts = urlsplit(str(url))
        if parts.scheme not in _SCHEMES:
            raise ValueError(f"{where}: url scheme must be imaps:// or imap://")
        default_port, tls = _SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError as err:
            raise ValueError(f"{where}: url has an invalid port") from err
        fields |= {"host": parts.hostname, "port": port, "tls": tls}
        if parts.username:
            fields["username"] = unquote(parts.username)
        if parts.password:
            fields["password"] = unquote(parts.password)
        if parts.path.strip("/"):
            fields["folder"] = unquote(parts.path.strip("/"))
    for key in ("host", "port", "tls", "username", "folder", "address", "name", "initial",
                "after_publish", "poll_s", "idle", "ca_file"):  # fmt: skip
        if entry.get(key) is not None:
            fields[key] = entry[key]
    if (password := _secret(entry, "password", where)) is not None:
        fields["password"] = password
    if (smtp_url := _secret(entry, "smtp_url", where)) is not None:
        parse_relay_url(smtp_url)
        fields["smtp_url"] = smtp_url
    account = str(entry.get("account") or "")
    if not ACCOUNT_RE.match(account):
        raise ValueError(f"{where}: account must match {ACCOUNT_RE.pattern}")
    for required in ("host", "username", "password"):
        if not fields.get(required):
            raise ValueError(f"{where}: {required} is missing")
    if not _AFTER.match(str(fields.get("after_publish", "seen"))):
        raise ValueError(f"{where}: after_publish must be seen, keep or move:<folder>")
    if fields.get("initial", "unseen") not in ("unseen", "all", "new"):
        raise ValueError(f"{where}: initial must be unseen, all or new")
    username = str(fields["username"])
    address = fields.get("address") or (username if "@" in username else None)
    return Mailbox(
        account=account,
        host=str(fields["host"]),
        port=int(fields.get("port") or 993),
        tls=bool(fields.get("tls", True)),
        username=username,
        password=str(fields["password"]),
        folder=str(fields.get("folder") or "INBOX"),
        address=str(address).strip().lower() if address else None,
        name=str(fields["name"]) if fields.get("name") else None,
        after_publish=str(fields.get("after_publish", "seen")),
        initial=fields.get("initial", "unseen"),
        poll_s=float(fields["poll_s"]) if fields.get("poll_s") else defaults.get("poll_s"),
        idle=bool(fields.get("idle", True)),
        ca_file=str(fields["ca_file"]) if fields.get("ca_file") else None,
        smtp_url=fields.get("smtp_url"),
    )


def parse_mailboxes(document: Any, source: str = "INBOX_IMAP_ACCOUNTS") -> list[Mailbox]:
    """Mailboxes from a parsed YAML/JSON document: `{"mailboxes": [...]}` or a bare list."""
    entries = document.get("mailboxes") if isinstance(document, dict) else document
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a list of mailboxes")
    defaults = document.get("defaults", {}) if isinstance(document, dict) else {}
    boxes = [_mailbox(e, f"{source} mailbox #{i + 1}", defaults) for i, e in enumerate(entries)]
    keys = [b.cursor_key for b in boxes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{source}: the same account and folder is listed twice")
    return boxes


def load_mailboxes(path: Path | None) -> list[Mailbox]:
    """Read and check the file; ValueError with the reason when it is unusable."""
    if path is None:
        return []
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"INBOX_IMAP_ACCOUNTS: cannot read {path}: {err}") from err
    return parse_mailboxes(document, f"INBOX_IMAP_ACCOUNTS ({path.name})")
