"""The Graph API side of Meta: the Send API with its error table, and profile lookups.

shared/channels/meta.md §5 (Send API) and §8 (error codes). Graph error codes decide retry
or give up; rate limits wait as long as Meta says (`Retry-After`, or the
`estimated_time_to_regain_access` minutes of `X-Business-Use-Case-Usage`), otherwise the
SDK's growing nak delay applies.

Profile lookup (customer names): done in the webhook path after the pure `normalise` and
before the publish, through a bounded in-process cache, with a short overall timeout. A
lookup that fails or is slow leaves the name empty and never fails the webhook.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from inbox_core.connector import ReplyFile, SendResult
from inbox_core.errors import PermanentError, TransientError
from inbox_core.http import MAX_RETRY_AFTER_S, action_for_status
from inbox_core.logging import get_logger
from inbox_core.schema import InboundMessage
from inbox_ingest_social import metrics
from inbox_ingest_social.channels.outbound import Answer, call_json
from inbox_ingest_social.channels.payload import json_object

log = get_logger(__name__)

SEND_TIMEOUT_S: Final = 15.0
UPLOAD_TIMEOUT_S: Final = 60.0  # up to 25 MB
STANDARD_WINDOW: Final = timedelta(hours=24)
HUMAN_AGENT_WINDOW: Final = timedelta(days=7)  # §6: unconfirmed, Meta enforces the real one
PROFILE_TIMEOUT_S: Final = 2.0  # for all lookups of one webhook together
PROFILE_CACHE_SIZE: Final = 4096
PROFILE_TTL_S: Final = 24 * 3600.0
PROFILE_MISS_TTL_S: Final = 600.0  # unknown or hidden profiles are asked again later

# Graph API error codes (§8) → what to do with the reply.
TRANSIENT_CODES: Final[Mapping[int, str]] = {
    1: "unknown error, retry",
    2: "service temporarily unavailable",
    4: "application request limit reached",
    17: "user request limit reached",
    32: "page request limit reached",
    613: "rate limit exceeded",
}
PERMANENT_CODES: Final[Mapping[int, str]] = {
    10: "permission denied (often: outside the messaging window)",
    100: "invalid parameter",
    190: "page access token invalid or expired",
    200: "permissions error",
    230: "permissions disallow messaging this user",
    368: "blocked as abusive or disallowed",
    551: "this person isn't available right now",
    2022: "commerce messaging temporarily disabled",
    10900: "activity already replied to",
    10903: "user can't reply to this activity",
    10904: "the page has messaging disabled",
}


def graph_error(
    status: int, data: dict[str, Any] | None, retry_after: float | None = None
) -> TransientError | PermanentError:
    """One table from a failed Send API answer to retry (Transient) or give up (Permanent)."""
    error = data.get("error") if data else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = error.get("message")
    message = message[:500] if isinstance(message, str) and message else f"HTTP {status}"
    meaning = (TRANSIENT_CODES.get(code) or PERMANENT_CODES.get(code)) if code is not None else None
    text = f"Graph API error {code if code is not None else status}"
    text += f" ({meaning}): {message}" if meaning else f": {message}"
    if code in PERMANENT_CODES:
        return PermanentError(text)
    if (
        code in TRANSIENT_CODES
        or error.get("is_transient") is True
        or action_for_status(status).retryable
    ):
        return TransientError(text, retry_after=retry_after)
    return PermanentError(text)


def rate_limit_wait(answer: Answer) -> float | None:
    """Seconds Meta asks us to wait: `Retry-After`, else the business use case estimate."""
    if answer.retry_after:  # "0" or a date gone by: Meta's estimate, else the SDK's delay
        return answer.retry_after
    raw = answer.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    waits = [m for m in minutes if isinstance(m, int | float) and not isinstance(m, bool) and m > 0]
    return min(max(waits) * 60.0, MAX_RETRY_AFTER_S) if waits else None


async def post_message(
    http: aiohttp.ClientSession, graph_url: str, node: str, token: str, body: dict[str, Any]
) -> SendResult:
    """`POST /{node}/messages` (§5); a failure raises per the Graph error table."""
    answer = await call_json(
        http,
        "POST",
        f"{graph_url}/{node}/messages",
        what="Send API",
        body=body,
        params={"access_token": token},
        timeout=SEND_TIMEOUT_S,
    )
    if 200 <= answer.status < 300:
        message_id = answer.data.get("message_id") if answer.data else None
        if not isinstance(message_id, str) or not message_id:
            log.warning("send api answered without message_id", node=node)
            return SendResult(external_id=None)
        return SendResult(external_id=message_id)
    raise graph_error(answer.status, answer.data, rate_limit_wait(answer))


def attachment_type(content_type: str) -> str:
    """The Send API's attachment type for a file (§5: audio, file, image, video)."""
    kind = content_type.partition("/")[0]
    return kind if kind in ("image", "audio", "video") else "file"


async def upload_attachment(
    http: aiohttp.ClientSession, graph_url: str, node: str, token: str, file: ReplyFile
) -> tuple[str, str]:
    """`POST /{node}/message_attachments` (Attachment Upload API): the file as multipart
    `filedata`, its type in `message`; returns (attachment type, attachment_id)."""
    kind = attachment_type(file.content_type)
    form = aiohttp.FormData()
    form.add_field(
        "message",
        orjson.dumps({"attachment": {"type": kind, "payload": {"is_reusable": False}}}).decode(),
    )
    form.add_field("filedata", file.data, filename=file.name, content_type=file.content_type)
    try:
        async with http.post(
            f"{graph_url}/{node}/message_attachments",
            data=form,
            params={"access_token": token},
            timeout=aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S),
        ) as resp:
            status, raw = resp.status, await resp.read()
            headers = CIMultiDictProxy(CIMultiDict(resp.headers))
    except (TimeoutError, aiohttp.ClientError) as err:
        raise TransientError(f"Attachment Upload API unreachable: {err!r}") from err
    answer = Answer(status, json_object(raw), headers)
    if 200 <= status < 300:
        attachment_id = (answer.data or {}).get("attachment_id")
        if isinstance(attachment_id, str | int) and str(attachment_id):
            return kind, str(attachment_id)
        raise PermanentError("the Attachment Upload API answered without attachment_id")
    raise graph_error(status, answer.data, rate_limit_wait(answer))


# -- profiles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    name: str | None = None
    username: str | None = None
    picture: str | None = None


@dataclass
class ProfileCache:
    """Bounded LRU with expiry: found profiles for a day, misses for ten minutes."""

    max_entries: int = PROFILE_CACHE_SIZE
    ttl_s: float = PROFILE_TTL_S
    miss_ttl_s: float = PROFILE_MISS_TTL_S
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[str, tuple[float, Profile | None]] = field(
        default_factory=OrderedDict, init=False
    )

    def get(self, key: str) -> tuple[bool, Profile | None]:
        """(known, profile): known is False when the key must be looked up."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self._entries.pop(key, None)
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: str, profile: Profile | None) -> None:
        ttl = self.ttl_s if profile is not None else self.miss_ttl_s
        self._entries[key] = (self.clock() + ttl, profile)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class ProfileLookup:
    """Fills `customer.name` from the Graph API, for one channel (facebook or instagram)."""

    graph_url: str
    token: str | None
    fields: str
    cache: ProfileCache = field(default_factory=ProfileCache)
    timeout_s: float = PROFILE_TIMEOUT_S

    async def enrich(
        self, channel: str, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]:
        if not self.token:
            return messages
        wanted = {m.customer.id for m in messages if m.customer.name is None}
        found: dict[str, Profile | None] = {}
        to_fetch: list[str] = []
        for customer_id in sorted(wanted):
            known, profile = self.cache.get(f"{channel}:{customer_id}")
            if known:
                found[customer_id] = profile
                metrics.PROFILE_LOOKUPS.labels(channel, "cached").inc()
            else:
                to_fetch.append(customer_id)
        if to_fetch:
            found.update(await self._fetch_all(channel, to_fetch, http))
        return [_with_profile(m, found.get(m.customer.id)) for m in messages]

    async def _fetch_all(
        self, channel: str, ids: list[str], http: aiohttp.ClientSession
    ) -> dict[str, Profile | None]:
        tasks = {asyncio.ensure_future(self._fetch(channel, i, http)): i for i in ids}
        done, pending = await asyncio.wait(tasks, timeout=self.timeout_s)
        for task in pending:
            task.cancel()
            metrics.PROFILE_LOOKUPS.labels(channel, "timeout").inc()
        await asyncio.gather(*pending, return_exceptions=True)
        found: dict[str, Profile | None] = {}
        for task in done:
            error = task.exception()
            if error is not None:  # a lookup never fails the webhook; it is only logged
                log.warning("profile lookup crashed", channel=channel, error=repr(error))
                metrics.PROFILE_LOOKUPS.labels(channel, "failed").inc()
            found[tasks[task]] = None if error is not None else task.result()
        return found

    async def _fetch(
        self, channel: str, customer_id: str, http: aiohttp.ClientSession
    ) -> Profile | None:
        assert self.token is not None
        try:
            answer = await call_json(
                http,
                "GET",
                f"{self.graph_url}/{customer_id}",
                what="Graph profile",
                params={"fields": self.fields, "access_token": self.token},
                timeout=self.timeout_s,
            )
        except TransientError as err:
            metrics.PROFILE_LOOKUPS.labels(channel, "failed").inc()
            log.info("profile lookup failed", channel=channel, error=str(err))
            return None  # not cached: asked again with the next message
        profile = _profile(answer.data) if answer.status == 200 else None
        if not action_for_status(answer.status).retryable:
            self.cache.put(f"{channel}:{customer_id}", profile)
        result = "found" if profile is not None else "failed"
        metrics.PROFILE_LOOKUPS.labels(channel, result).inc()
        return profile


def _profile(data: dict[str, Any] | None) -> Profile | None:
    if not data:
        return None

    def text(key: str) -> str | None:
        value = data.get(key)
        return (value.strip()[:200] or None) if isinstance(value, str) else None

    parts = [p for p in (text("first_name"), text("last_name")) if p]
    name = text("name") or (" ".join(parts) if parts else None)
    username = text("username")
    if name is None and username is None:
        return None
    return Profile(name=name or username, username=username, picture=text("profile_pic"))


def _with_profile(message: InboundMessage, profile: Profile | None) -> InboundMessage:
    if profile is None or message.customer.name is not None:
        return message
    context = dict(message.context)
    if profile.username:
        context["username"] = profile.username
    if profile.picture:
        context["profile_pic"] = profile.picture
    customer = message.customer.model_copy(update={"name": profile.name})
    return message.model_copy(update={"customer": customer, "context": context})


# -- the messaging window (§6) ----------------------------------------------------------------


def messaging_type(context: Mapping[str, Any], now: datetime) -> dict[str, str]:
    """The connector picks the message type from when the customer last wrote
    (`context["last_customer_message_at"]`, ISO 8601 or datetime, set by the notifier):
    RESPONSE inside the 24-hour window, MESSAGE_TAG with the HUMAN_AGENT tag (a person
    answering, the tag meant for an inbox) up to 7 days, and after that a PermanentError
    saying Meta's rule, so the agent sees a `failed` delivery with the reason."""
    last = _parse_when(context.get("last_customer_message_at"))
    if last is None:
        return {"messaging_type": "RESPONSE"}  # unknown: let Meta decide
    age = now - last
    if age <= STANDARD_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if age <= HUMAN_AGENT_WINDOW:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    days = age.total_seconds() / 86400
    raise PermanentError(
        "outside Meta's messaging window: a page may answer for 24 hours after the customer's "
        "last message, and with the HUMAN_AGENT tag for 7 days; the customer last wrote "
        f"{days:.1f} days ago. Ask them to write again (e.g. by mail) to reopen it"
    )


def _parse_when(value: object) -> datetime | None:
    """`last_customer_message_at` as a datetime or ISO 8601 string; unreadable → None."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            log.warning("unreadable last_customer_message_at in reply context")
            return None
    else:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
