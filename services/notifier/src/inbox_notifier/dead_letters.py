"""Dead letters for the agent API: the DLQ stream read newest first, with when each was last
replayed (kept in the store), and the replay to the original subject."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Final

from nats.js.errors import BadRequestError, NotFoundError

from inbox_core import subjects
from inbox_core.errors import BusUnavailable
from inbox_core.runtime import Runtime
from inbox_core.schema import DeadLetter, utcnow
from inbox_notifier.routing import ApiError, not_found

REPLAYS: Final = "dead_letter_replays"
LISTED: Final = 200
PREVIEW_CHARS: Final = 500


def letter_data(letter: DeadLetter) -> bytes:
    """The original message's bytes (binary payloads are kept base64 in the letter)."""
    if letter.data_encoding == "base64":
        return base64.b64decode(letter.data)
    return letter.data.encode()


def replay_headers(letter: DeadLetter) -> dict[str, str]:
    """The original headers without the bus's own (`Nats-*`: a new message id is given)."""
    return {k: v for k, v in letter.headers.items() if not k.startswith("Nats-")}


class DeadLetters:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def latest(self) -> list[tuple[str, DeadLetter, datetime | None]]:
        """The newest dead letters (at most LISTED): id, letter, last replayed at."""
        js = self.runtime.bus.js
        info = await js.stream_info(subjects.STREAM_DLQ)
        replays = {d["_id"]: d async for d in self.runtime.store.db[REPLAYS].find()}
        items: list[tuple[str, DeadLetter, datetime | None]] = []
        seq = info.state.last_seq
        while seq >= max(info.state.first_seq, 1) and len(items) < LISTED:
            try:
                raw = await js.get_msg(subjects.STREAM_DLQ, seq)
            except NotFoundError:
                seq -= 1
                continue
            replay = replays.get(str(seq))
            letter = DeadLetter.from_json(raw.data or b"{}")
            items.append((str(seq), letter, replay["at"] if replay else None))
            seq -= 1
        return items

    async def replay(self, letter_id: str) -> tuple[DeadLetter, datetime]:
        """Publish the letter again to its original subject; the letter and when."""
        runtime = self.runtime
        if not letter_id.isdigit() or int(letter_id) < 1:
            raise not_found(f"dead letter {letter_id}")
        try:
            raw = await runtime.bus.js.get_msg(subjects.STREAM_DLQ, int(letter_id))
        except (NotFoundError, BadRequestError) as err:
            raise not_found(f"dead letter {letter_id}") from err
        letter = DeadLetter.from_json(raw.data or b"{}")
        record: dict[str, Any] | None = await runtime.store.db[REPLAYS].find_one_and_update(
            {"_id": letter_id},
            {"$inc": {"count": 1}, "$set": {"at": utcnow()}},
            upsert=True,
            return_document=True,
        )
        try:
            await runtime.bus.publish(
                letter.subject,
                letter_data(letter),
                headers=replay_headers(letter),
                msg_id=f"replay:{letter_id}:{record['count'] if record else 1}",
            )
        except BusUnavailable as err:
            raise ApiError(503, "bus_unavailable", "replay could not be published") from err
        assert record is not None  # upserted above
        return letter, record["at"]
