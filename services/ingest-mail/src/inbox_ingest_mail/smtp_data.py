"""Reading SMTP DATA with bounded memory.

aiosmtpd's own DATA loop keeps the fragments of an over-long line until its CRLF arrives,
so a sender streaming megabytes without a line break grows the server's memory without
limit, size limit or not. Here at most `limit` bytes are ever kept (plus one read chunk):
past the limit everything is read and dropped until the terminating `.` line, and the
caller answers 552. Lines of any length are accepted (the size limit bounds the mail);
dot-stuffing is undone (RFC 5321 §4.5.2).
"""

from __future__ import annotations

import asyncio
from typing import Final

CHUNK: Final = 64 * 1024


async def read_data(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The message up to the `.` line; None when it was larger than `limit` bytes.
    Raises asyncio.IncompleteReadError when the connection closes first."""
    kept = bytearray()
    size = 0
    too_big = False
    at_line_start = True
    while True:
        try:
            piece = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as err:  # a line longer than the reader's buffer
            piece = await reader.readexactly(min(err.consumed, CHUNK) or 1)
        ends_line = piece.endswith(b"\r\n")
        if at_line_start and piece == b".\r\n":
            break
        if at_line_start and piece.startswith(b"."):
            piece = piece[1:]
        size += len(piece)
        if not too_big and size > limit:
            too_big = True
            kept = bytearray()  # drop what we had: the answer is 552 anyway
        if not too_big:
            kept += piece
        at_line_start = ends_line
    return None if too_big else bytes(kept)
