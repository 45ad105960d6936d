"""Dead-letter routes of the agent API: what failed and why, and the replay (admin)."""

from __future__ import annotations

from aiohttp import web

from inbox_notifier.auth import require_admin
from inbox_notifier.dead_letters import PREVIEW_CHARS, DeadLetters
from inbox_notifier.models import DeadLetterList, DeadLetterOut, ReplayOut
from inbox_notifier.routing import RouteTable

DEAD_LETTERS = web.AppKey("dead_letters", DeadLetters)

dead_letters_api = RouteTable()


@dead_letters_api.add(
    "GET",
    "/api/dead-letters",
    response=DeadLetterList,
    tag="dead letters",
    summary="Messages that failed processing: what, why, how many tries",
)
async def list_dead_letters(request: web.Request) -> DeadLetterList:
    return DeadLetterList(
        items=[
            DeadLetterOut(
                id=letter_id,
                stream=letter.stream,
                consumer=letter.consumer,
                subject=letter.subject,
                error=letter.error,
                deliveries=letter.deliveries,
                failed_at=letter.failed_at,
                data_preview=letter.data[:PREVIEW_CHARS],
                replayed_at=replayed_at,
            )
            for letter_id, letter, replayed_at in await request.app[DEAD_LETTERS].latest()
        ]
    )


@dead_letters_api.add(
    "POST",
    "/api/dead-letters/{letter_id}/replay",
    response=ReplayOut,
    errors=(403, 404, 503),
    tag="dead letters",
    summary="Publish a dead letter again to its original subject (admin)",
)
async def replay_dead_letter(request: web.Request) -> ReplayOut:
    require_admin(request)
    letter_id = request.match_info["letter_id"]
    letter, at = await request.app[DEAD_LETTERS].replay(letter_id)
    return ReplayOut(id=letter_id, subject=letter.subject, replayed_at=at)
