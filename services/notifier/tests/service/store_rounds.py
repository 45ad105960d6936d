"""A TCP proxy in front of the store that counts sequential store round trips.

Every reply to a data command is held back for `delay` seconds (the driver's handshakes
and heartbeats are not: a connection opened in the middle of a round does not delay it), so
a command that waits for another's answer starts at least `delay` after it, while the
commands a batch's handlers send together (gathered, or at the same step of their messages)
start within a few milliseconds of each other: a round is a run of commands each started
within `delay / 2` of the one before, and the number of rounds is how many sequential round
trips the batch took.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Final

import bson

from inbox_core.embedded import free_port

OP_MSG: Final = 2013
# The driver's own commands (connection handshake, heartbeats, sessions) are not rounds.
NOT_DATA: Final = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"})


def _command_of(message: bytes) -> str | None:
    """The command name of an OP_MSG (the first key of its body), else None."""
    (op,) = struct.unpack_from("<i", message, 12)
    if op != OP_MSG or message[20] != 0:  # flagBits, then section kind 0: the body
        return None
    (size,) = struct.unpack_from("<i", message, 21)
    body = bson.decode(message[21 : 21 + size])
    return next(iter(body), None)


class StoreRounds:
    """`url` reaches the store through the proxy; `rounds` and `commands` count what went
    through it (data commands only)."""

    def __init__(self, target_port: int, delay: float = 0.25) -> None:
        self.target_port = target_port
        self.delay = delay
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.started: list[float] = []  # when each data command went to the store
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StoreRounds:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    def reset(self) -> None:
        self.started = []

    @property
    def commands(self) -> int:
        return len(self.started)

    @property
    def rounds(self) -> int:
        count, last = 0, None
        for at in sorted(self.started):
            if last is None or at - last > self.delay / 2:
                count += 1
            last = at
        return count

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        data: set[int] = set()  # request ids of the data commands awaiting their reply
        ups = asyncio.ensure_future(self._up(client_r, server_w, data))
        downs = asyncio.ensure_future(self._down(server_r, client_w, data))
        for task in (ups, downs):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait({ups, downs}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ups.cancel()
            downs.cancel()
            for writer in (client_w, server_w):
                writer.close()

    @staticmethod
    async def _message(reader: asyncio.StreamReader) -> bytes:
        header = await reader.readexactly(16)
        (length,) = struct.unpack_from("<i", header)
        return header + await reader.readexactly(length - 16)

    async def _up(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: set[int]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await self._message(reader)
            command = _command_of(message)
            if command is not None and command not in NOT_DATA:
                data.add(struct.unpack_from("<i", message, 4)[0])
                self.started.append(loop.time())
            writer.write(message)
            await writer.drain()

    async def _down(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: set[int]
    ) -> None:
        while True:
            message = await self._message(reader)
            (response_to,) = struct.unpack_from("<i", message, 8)
            if response_to in data:
                data.discard(response_to)
                await asyncio.sleep(self.delay)  # one command at a time per connection
            writer.write(message)
            await writer.drain()
