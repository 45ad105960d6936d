"""Public links to reply files, for platforms that fetch an image by URL (TalkTalk's
imageContent.imageUrl) instead of taking an upload: `GET /files/<token>` without a token of
an agent, where the token names the blob, an expiry and an HMAC over both. Only with
INBOX_PUBLIC_URL (the address the platform reaches the notifier at); the key is made on first
start and kept in $INBOX_DATA_DIR/file-link-key (shared by replicas on the same data dir)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from inbox_core.blobs import REF_PREFIX, BlobNotFoundError, get_blob
from inbox_core.runtime import RUNTIME

KEY_FILE: Final = "file-link-key"
LINK_TTL_S: Final = 7 * 24 * 3600  # the platform may fetch late (retries); then it expires
_TOKEN: Final = re.compile(r"^([0-9a-f]{64})\.(\d{1,12})\.([0-9a-f]{32})$")


def load_link_key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another replica made it first
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


@dataclass(frozen=True)
class FileLinks:
    public_url: str
    key: bytes

    def _mac(self, address: str, expires: int) -> str:
        message = f"{address}.{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def url(self, ref: str, now: float | None = None) -> str:
        address = ref.removeprefix(REF_PREFIX)
        expires = int((now or time.time()) + LINK_TTL_S)
        token = f"{address}.{expires}.{self._mac(address, expires)}"
        return f"{self.public_url.rstrip('/')}/files/{token}"

    def ref_of(self, token: str, now: float | None = None) -> str | None:
        """The blob a token names, or None when it is malformed, forged or expired."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        address, expires, mac = match.group(1), int(match.group(2)), match.group(3)
        if not hmac.compare_digest(mac, self._mac(address, expires)):
            return None
        if expires < (now or time.time()):
            return None
        return REF_PREFIX + address


FILE_LINKS = web.AppKey("file_links", FileLinks)


async def serve_file(request: web.Request) -> web.Response:
    links = request.app[FILE_LINKS]
    ref = links.ref_of(request.match_info["token"])
    if ref is None:
        raise web.HTTPNotFound()
    try:
        data, _, content_type = await get_blob(request.app[RUNTIME].store.db, ref)
    except BlobNotFoundError as err:
        raise web.HTTPNotFound() from err
    return web.Response(
        body=data,
        headers={
            "Content-Type": content_type,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


def install_file_links(app: web.Application, public_url: str | None, data_dir: Path) -> None:
    if not public_url:
        return
    app[FILE_LINKS] = FileLinks(public_url, load_link_key(data_dir))
    app.router.add_get("/files/{token}", serve_file)
