"""Blobs in GridFS against the real Mongo-wire store: round trip, idempotence, unknown refs,
recovery from an upload that died half way."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.blobs import (
    BlobNotFoundError,
    blob_id,
    blob_metadata,
    get_blob,
    put_blob,
)

TIMEOUT = 15.0


@pytest.fixture
async def db(mongo_server: Any) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url, serverSelectionTimeoutMS=5000
    )
    name = f"blobs_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        await asyncio.wait_for(client.drop_database(name), TIMEOUT)
        await client.close()


async def test_blob_round_trips_with_name_type_and_metadata(db: AsyncDatabase[Any]) -> None:
    data = "영수증 원본입니다.\n".encode() * 40_000  # ~1 MB: several GridFS chunks

    ref = await asyncio.wait_for(
        put_blob(
            db,
            data,
            filename="영수증.pdf",
            content_type="application/pdf",
            metadata={"account": "cs", "kind": "attachment"},
        ),
        TIMEOUT,
    )

    assert ref.startswith("gridfs:")
    got, filename, content_type = await asyncio.wait_for(get_blob(db, ref), TIMEOUT)
    assert (got, filename, content_type) == (data, "영수증.pdf", "application/pdf")
    info = await asyncio.wait_for(blob_metadata(db, ref), TIMEOUT)
    assert info["size"] == len(data)
    assert info["metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["metadata"]["account"] == "cs"


async def test_same_blob_twice_is_stored_once_with_the_same_ref(db: AsyncDatabase[Any]) -> None:
    data = b"From: a@b\r\n\r\nhello\r\n"

    first, second = await asyncio.wait_for(
        asyncio.gather(
            put_blob(db, data, filename="raw.eml", content_type="message/rfc822"),
            put_blob(db, data, filename="raw.eml", content_type="message/rfc822"),
        ),
        TIMEOUT,
    )
    again = await asyncio.wait_for(
        put_blob(db, data, filename="raw.eml", content_type="message/rfc822"), TIMEOUT
    )

    assert first == second == again
    # Two racing uploads may both complete; a later one never uploads again.
    assert 1 <= await db["blobs.files"].count_documents({}) <= 2
    assert (await asyncio.wait_for(get_blob(db, again), TIMEOUT))[0] == data


async def test_same_bytes_under_another_name_is_another_blob(db: AsyncDatabase[Any]) -> None:
    a = await asyncio.wait_for(put_blob(db, b"same", filename="a.txt"), TIMEOUT)
    b = await asyncio.wait_for(put_blob(db, b"same", filename="b.txt"), TIMEOUT)
    assert a != b
    assert (await get_blob(db, b))[1] == "b.txt"


async def test_empty_blob_round_trips(db: AsyncDatabase[Any]) -> None:
    ref = await asyncio.wait_for(put_blob(db, b"", filename="empty.txt"), TIMEOUT)
    assert await asyncio.wait_for(get_blob(db, ref), TIMEOUT) == (
        b"",
        "empty.txt",
        "application/octet-stream",
    )


@pytest.mark.parametrize(
    "ref",
    ["gridfs:" + "0" * 64, "gridfs:not-hex", "s3://bucket/x", "", "gridfs:../../etc/passwd"],
    ids=["unknown_id", "malformed_id", "other_scheme", "empty", "path_traversal"],
)
async def test_unknown_ref_raises_a_clear_error(db: AsyncDatabase[Any], ref: str) -> None:
    with pytest.raises(BlobNotFoundError):
        await asyncio.wait_for(get_blob(db, ref), TIMEOUT)
    with pytest.raises(BlobNotFoundError):
        await asyncio.wait_for(blob_metadata(db, ref), TIMEOUT)


async def test_upload_that_died_half_way_is_redone(db: AsyncDatabase[Any]) -> None:
    data = b"x" * 300_000
    # What a crash after the first chunk leaves behind: a chunk, no files document.
    await db["blobs.chunks"].insert_one({"files_id": ObjectId(), "n": 0, "data": b"x" * 10})
    await db["blobs.files"].insert_one({"_id": ObjectId(), "metadata": {"address": "other"}})

    ref = await asyncio.wait_for(
        put_blob(db, data, filename="raw.eml", content_type="message/rfc822"), TIMEOUT
    )

    assert ref == f"gridfs:{blob_id(data, 'raw.eml', 'message/rfc822')}"
    assert (await asyncio.wait_for(get_blob(db, ref), TIMEOUT))[0] == data
