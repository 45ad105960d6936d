"""Blobs: raw payloads and attachment bytes in the store, through GridFS.

A connector keeps what it received (a raw mail, an attachment) with `put_blob` and puts the
returned ref (`gridfs:<id>`) on the message (`InboundMessage.raw_ref`, `Attachment.ref`);
the agent API serves the bytes back with `get_blob` (`/api/attachments/<ref>`).

- Idempotent: the ref is a content address, a sha256 over the bytes, the file name and the
  content type (`metadata.address`), so a redelivered mail (SMTP retry, IMAP re-poll) stores
  nothing new and gets the same ref. The bytes' own sha256 is kept in `metadata.sha256`;
  the metadata of the first upload wins.
- Crash- and race-safe without relying on unique indexes: each upload has its own GridFS id
  and GridFS writes the files document last, so only complete uploads are found by address.
  An upload that died half way leaves unreachable chunks, never a corrupt blob; two racing
  uploads leave two complete copies, either of which is served.
- Bucket `blobs` (collections `blobs.files`, `blobs.chunks`); works on MongoDB and on the
  embedded Mongo-wire store.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.errors import InboxError

BUCKET: Final = "blobs"
FILES: Final = f"{BUCKET}.files"
REF_PREFIX: Final = "gridfs:"
_ID_RE: Final = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"


class BlobNotFoundError(InboxError, LookupError):
    """The ref names no stored blob (or is not a blob ref at all): the API answers 404."""


def blob_id(data: bytes, filename: str, content_type: str) -> str:
    """The content address of a blob: sha256 over the length-prefixed name, type and bytes."""
    digest = hashlib.sha256()
    for part in (filename.encode("utf-8", "surrogatepass"), content_type.encode("utf-8")):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(data)
    return digest.hexdigest()


def parse_ref(ref: str) -> str:
    """`gridfs:<64 hex>` → the content address; BlobNotFoundError for anything else."""
    if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
        raise BlobNotFoundError(f"not a blob ref: {str(ref)[:80]!r}")
    address = ref[len(REF_PREFIX) :]
    if not _ID_RE.match(address):
        raise BlobNotFoundError(f"not a blob ref: {ref[:80]!r}")
    return address


def _bucket(db: AsyncDatabase[Any]) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(db, bucket_name=BUCKET)


_indexed: set[tuple[int, str]] = set()


async def ensure_blob_indexes(db: AsyncDatabase[Any]) -> None:
    """The lookup by address; created once per database and process (idempotent anyway)."""
    key = (id(db.client), db.name)
    if key not in _indexed:
        await db[FILES].create_index([("metadata.address", ASCENDING)])
        _indexed.add(key)


async def _find(db: AsyncDatabase[Any], address: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db[FILES].find_one(
        {"metadata.address": address}, sort=[("uploadDate", ASCENDING)]
    )
    return doc


async def put_blob(
    db: AsyncDatabase[Any],
    data: bytes,
    *,
    filename: str,
    content_type: str = DEFAULT_CONTENT_TYPE,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Store `data` once; return its ref. Store errors (PyMongoError) propagate: the caller
    decides whether that is worth a retry (SMTP answers 451, a poller keeps its cursor)."""
    content_type = content_type or DEFAULT_CONTENT_TYPE
    address = blob_id(data, filename, content_type)
    await ensure_blob_indexes(db)
    if await _find(db, address) is None:
        meta = {
            **(metadata or {}),
            "address": address,
            "sha256": hashlib.sha256(data).hexdigest(),
            "contentType": content_type,
        }
        await _bucket(db).upload_from_stream(filename, data, metadata=meta)
    return REF_PREFIX + address


async def get_blob(db: AsyncDatabase[Any], ref: str) -> tuple[bytes, str, str]:
    """(bytes, file name, content type) of a stored blob; BlobNotFoundError when unknown."""
    address = parse_ref(ref)
    doc = await _find(db, address)
    if doc is None:
        raise BlobNotFoundError(f"no blob {ref}")
    try:
        stream = await _bucket(db).open_download_stream(doc["_id"])
    except NoFile as err:  # deleted between the lookup and the read
        raise BlobNotFoundError(f"no blob {ref}") from err
    data = await stream.read()
    metadata = stream.metadata or {}
    content_type = str(metadata.get("contentType") or DEFAULT_CONTENT_TYPE)
    return data, str(stream.filename or address), content_type


async def blob_metadata(db: AsyncDatabase[Any], ref: str) -> dict[str, Any]:
    """Name, type, size and metadata without reading the bytes (e.g. for a HEAD request)."""
    address = parse_ref(ref)
    doc = await _find(db, address)
    if doc is None:
        raise BlobNotFoundError(f"no blob {ref}")
    metadata = dict(doc.get("metadata") or {})
    return {
        "filename": doc.get("filename") or address,
        "content_type": metadata.get("contentType") or DEFAULT_CONTENT_TYPE,
        "size": int(doc.get("length", 0)),
        "metadata": metadata,
    }
