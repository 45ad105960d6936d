"""Stored files for the agent API: download of a stored attachment or raw message, upload of
a file for a reply. File names from platforms and browsers are data, never a path or a
header: the pure functions here make them safe."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from inbox_core.blobs import BlobNotFoundError, get_blob, put_blob
from inbox_core.store import Store
from inbox_notifier.filetypes import sniff_content_type
from inbox_notifier.routing import not_found


def download_name(filename: str) -> str:
    """No directories, no control characters (header injection), nothing that leaves the
    quotes."""
    return re.sub(r"[\x00-\x1f\x7f/\\]+", "_", filename).strip(" .")[:200] or "attachment"


def content_disposition(filename: str) -> str:
    """RFC 6266/5987: Korean file names survive; the plain name is an ASCII fallback."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _utf8_quoted(name: str) -> bool:
    try:
        unquote(name, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def upload_name(raw: str | None) -> str:
    """A base name without control characters (the name is data, not a path or a header)."""
    name = raw or ""
    if re.search(r"%[0-9A-Fa-f]{2}", name):  # aiohttp and some clients percent-encode UTF-8
        name = unquote(name, errors="strict") if _utf8_quoted(name) else name
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]+", "", name).strip(" .")
    return name[:200] or "attachment"


class AttachmentFiles:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def download(self, ref: str) -> tuple[bytes, str, str]:
        """The file's bytes, a safe name and its content type; 404 for a ref not ours."""
        try:
            data, filename, content_type = await get_blob(self.store.db, ref)
        except (BlobNotFoundError, ValueError) as err:
            raise not_found(f"attachment {ref}") from err
        return data, download_name(filename), content_type

    async def upload(self, data: bytes, name: str, agent: str) -> tuple[str, str]:
        """Store a file for a reply: its ref and its content type (sniffed, not trusted)."""
        content_type = sniff_content_type(data, name)
        ref = await put_blob(
            self.store.db,
            data,
            filename=name,
            content_type=content_type,
            metadata={"uploaded_by": agent, "purpose": "reply"},
        )
        return ref, content_type
