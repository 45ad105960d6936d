"""Facebook Messenger and Instagram Messaging: one webhook shape, one Send API.

What is known of the platform is in shared/channels/meta.md; the section numbers below
refer to it. Inbound: Meta signs every POST with `X-Hub-Signature-256` (§3) and batches
events as `entry[].messaging[]` (§2); we answer `EVENT_RECEIVED` only after the PubAck (the
SDK does that). Outbound: the Send API (§5) inside the 24-hour window (§6), with the Graph
error codes of §8 mapped to retry / give up.

`normalise` is pure: no I/O, no clock (the fallback time comes from the request).
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import unquote, urlsplit

import aiohttp
import orjson
from aiohttp import web
from pydantic import ValidationError

from inbox_core.connector import RawRequest, SendResult, WebhookChannel
from inbox_core.errors import AuthError, InvalidPayload, PermanentError, TransientError
from inbox_core.logging import get_logger
from inbox_core.schema import (
    Attachment,
    Customer,
    Direction,
    InboundMessage,
    MessageFlags,
    OutboundReply,
    utcnow,
)

if TYPE_CHECKING:
    from inbox_ingest_social.settings import SocialSettings

log = get_logger(__name__)

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
ACK_BODY: Final = "EVENT_RECEIVED"
DEFAULT_GRAPH_URL: Final = "https://graph.facebook.com/v21.0"

# Limits as data (§5, §6).
MAX_TEXT_CHARS: Final = 2000
MAX_METADATA_CHARS: Final = 1000
STANDARD_WINDOW: Final = timedelta(hours=24)
HUMAN_AGENT_WINDOW: Final = timedelta(days=7)  # §6: unconfirmed, Meta enforces the real one
SEND_TIMEOUT_S: Final = 15.0

# Our outbound messages carry `metadata = "inbox:<reply id>"`; Meta echoes it back, so an
# echo carrying it is our own reply (already recorded by the notifier) and is dropped:
# the loop guard of §2 without having to know our own app id.
OUR_METADATA_PREFIX: Final = "inbox:"

# Meta ids (page, PSID, IGSID, IG account) are digits; allow a little more, never '.', ':'.
_ID_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

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

# Meta attachment type → a MIME family when the URL names no file type.
_TYPE_FAMILY: Final[Mapping[str, str]] = {
    "image": "image/*",
    "audio": "audio/*",
    "video": "video/*",
    "reel": "video/*",
    "ig_reel": "video/*",
}


@dataclass(frozen=True)
class MetaConfig:
    """Credentials and endpoint of the Meta app (one page token serves every page)."""

    app_secret: str | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)
    page_token: str | None = field(default=None, repr=False)
    graph_url: str = DEFAULT_GRAPH_URL

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> MetaConfig:
        def secret(value: Any) -> str | None:
            return (value.get_secret_value() or None) if value is not None else None

        return cls(
            app_secret=secret(settings.facebook_app_secret),
            verify_token=secret(settings.facebook_verify_token),
            page_token=secret(settings.facebook_page_token),
            graph_url=settings.meta_graph_url.rstrip("/"),
        )


def expected_signature(body: bytes, secret: str) -> str:
    """`sha256=<lowercase hex HMAC-SHA256(app secret, raw body)>` (§3)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def postback_id(sender: str, timestamp: object, payload: str | None) -> str:
    """A stable external id for a postback that carries no `mid` (e.g. older Get Started)."""
    digest = hashlib.sha256(f"{sender}\x1f{timestamp}\x1f{payload or ''}".encode()).hexdigest()
    return f"postback:{digest[:40]}"


class Facebook(WebhookChannel):
    """Messenger for every page the app is subscribed to: `account` is the page id."""

    name: ClassVar[str] = "facebook"
    path: ClassVar[str] = "/webhooks/facebook"
    object_type: ClassVar[str] = "page"  # the webhook body's `object`
    account_key: ClassVar[str] = "page_id"  # how `context` names the account

    def __init__(
        self, account: str, config: MetaConfig, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(account)
        self.config = config
        self.clock = clock

    # -- webhook: GET verification, POST signature ---------------------------------------

    def handshake(self, request: RawRequest) -> web.Response:
        """Meta's subscription check (§1): echo `hub.challenge` when the token matches."""
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token")
        expected = self.config.verify_token
        if mode != "subscribe" or not expected or token is None or not _same(token, expected):
            log.warning("webhook verification refused", channel=self.name, mode=mode)
            return web.Response(status=403, text="verification failed", content_type="text/plain")
        challenge = request.query.get("hub.challenge")
        if challenge is None:
            return web.Response(status=400, text="hub.challenge missing", content_type="text/plain")
        return web.Response(text=challenge, content_type="text/plain")

    def verify(self, request: RawRequest) -> None:
        secret = self.config.app_secret
        if not secret:
            raise AuthError("FACEBOOK_APP_SECRET is not set; every webhook is refused")
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise AuthError(f"{SIGNATURE_HEADER} header missing")
        expected = expected_signature(request.body, secret)
        given = header.strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise AuthError(f"{SIGNATURE_HEADER} does not match the body")

    def acknowledge(self, request: RawRequest, messages: list[InboundMessage]) -> web.Response:
        return web.Response(text=ACK_BODY, content_type="text/plain")

    # -- normalise (pure) -----------------------------------------------------------------

    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError as err:
            raise InvalidPayload(f"body is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise InvalidPayload("body is not a JSON object")
        if body.get("object") != self.object_type:
            raise InvalidPayload(
                f"expected object {self.object_type!r}, got {_short(body.get('object'))}"
            )
        entries = body.get("entry")
        if not isinstance(entries, list):
            raise InvalidPayload("`entry` must be a list")
        messages: list[InboundMessage] = []
        for i, entry in enumerate(entries):  # batched: every entry counts (§2)
            messages.extend(self._entry(_obj(entry, f"entry[{i}]"), i, request.received_at))
        return messages

    def thread_key(self, account: str, customer_id: str) -> str:
        return f"{self.name}:{account}:{customer_id}"

    def _entry(self, entry: dict[str, Any], i: int, arrived: datetime) -> list[InboundMessage]:
        account = _id(entry.get("id"), f"entry[{i}].id")
        fallback = _time(entry["time"], f"entry[{i}].time") if "time" in entry else arrived
        # Handover `standby` events and other fields carry no `messaging`: nothing to do.
        events = entry.get("messaging", [])
        if not isinstance(events, list):
            raise InvalidPayload(f"entry[{i}].messaging must be a list")
        out: list[InboundMessage] = []
        for j, raw in enumerate(events):
            where = f"entry[{i}].messaging[{j}]"
            message = self._event(account, _obj(raw, where), where, fallback)
            if message is not None:
                out.append(message)
        return out

    def _event(
        self, account: str, event: dict[str, Any], where: str, fallback: datetime
    ) -> InboundMessage | None:
        if "message" in event:
            kind = "message"
        elif "postback" in event:
            kind = "postback"
        else:
            return None  # delivery, read, reaction, optin, referral …: not messages
        sender = _id(_obj(event.get("sender"), f"{where}.sender").get("id"), f"{where}.sender.id")
        recipient = _id(
            _obj(event.get("recipient"), f"{where}.recipient").get("id"), f"{where}.recipient.id"
        )
        at = _time(event["timestamp"], f"{where}.timestamp") if "timestamp" in event else fallback
        if kind == "message":
            return self._message(account, event, sender, recipient, at, where)
        return self._postback(account, event, sender, at, where)

    def _message(
        self,
        account: str,
        event: dict[str, Any],
        sender: str,
        recipient: str,
        at: datetime,
        where: str,
    ) -> InboundMessage | None:
        message = _obj(event.get("message"), f"{where}.message")
        if message.get("is_deleted") is True:
            return None  # the customer unsent an earlier message (Instagram)
        mid = _str(message.get("mid"), f"{where}.message.mid")
        echo = message.get("is_echo") is True
        metadata = _opt_str(message.get("metadata"), f"{where}.message.metadata")
        if echo and metadata is not None and metadata.startswith(OUR_METADATA_PREFIX):
            return None  # our own reply coming back: the loop guard
        context: dict[str, Any] = {self.account_key: account}
        quick_reply = message.get("quick_reply")
        if quick_reply is not None:
            payload = _opt_str(
                _obj(quick_reply, f"{where}.message.quick_reply").get("payload"),
                f"{where}.message.quick_reply.payload",
            )
            context["quick_reply_payload"] = payload
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict) and isinstance(reply_to.get("mid"), str):
            context["reply_to_mid"] = reply_to["mid"]
        attachments_raw = message.get("attachments", [])
        if not isinstance(attachments_raw, list):
            raise InvalidPayload(f"{where}.message.attachments must be a list")
        attachments: list[Attachment] = []
        types: list[str] = []
        for k, raw in enumerate(attachments_raw):
            kind, attachment = _attachment(raw, f"{where}.message.attachments[{k}]")
            types.append(kind)
            attachments.append(attachment)
        if types:
            context["attachment_types"] = types
        if message.get("is_unsupported") is True:
            context["unsupported"] = True
        if echo:
            app_id = message.get("app_id")
            if isinstance(app_id, int | str) and not isinstance(app_id, bool):
                context["app_id"] = str(app_id)
            if metadata is not None:
                context["metadata"] = metadata
        return self._build(
            account=account,
            external_id=mid,
            # An echo is the page speaking (e.g. a reply typed in Meta Business Suite):
            # the customer is then the recipient.
            customer_id=recipient if echo else sender,
            direction=Direction.OUT if echo else Direction.IN,
            text=_opt_str(message.get("text"), f"{where}.message.text") or "",
            attachments=attachments,
            at=at,
            context=context,
            flags=MessageFlags(echo=echo),
            where=where,
        )

    def _postback(
        self, account: str, event: dict[str, Any], sender: str, at: datetime, where: str
    ) -> InboundMessage:
        postback = _obj(event.get("postback"), f"{where}.postback")
        title = _opt_str(postback.get("title"), f"{where}.postback.title")
        payload = _opt_str(postback.get("payload"), f"{where}.postback.payload")
        mid = _opt_str(postback.get("mid"), f"{where}.postback.mid")
        context: dict[str, Any] = {
            self.account_key: account,
            "postback": True,
            "postback_title": title,
            "postback_payload": payload,
        }
        referral = postback.get("referral")
        if isinstance(referral, dict):
            context["referral"] = referral
        return self._build(
            account=account,
            external_id=mid or postback_id(sender, event.get("timestamp"), payload),
            customer_id=sender,
            direction=Direction.IN,
            text=title or payload or "",
            attachments=[],
            at=at,
            context=context,
            flags=MessageFlags(),
            where=where,
        )

    def _build(
        self,
        *,
        account: str,
        external_id: str,
        customer_id: str,
        direction: Direction,
        text: str,
        attachments: list[Attachment],
        at: datetime,
        context: dict[str, Any],
        flags: MessageFlags,
        where: str,
    ) -> InboundMessage:
        try:
            return InboundMessage(
                channel=self.name,
                account=account,
                external_id=external_id,
                direction=direction,
                thread_keys=[self.thread_key(account, customer_id)],
                customer=Customer(id=customer_id),
                text=text,
                attachments=attachments,
                received_at=at,
                context=context,
                flags=flags,
            )
        except ValidationError as err:
            first = err.errors(include_input=False, include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidPayload(f"{where}: {loc}: {first['msg']}") from err

    # -- Send API ---------------------------------------------------------------------------

    def send_node(self, account: str) -> str:
        """The Graph node whose `/messages` edge sends as this account (§5)."""
        return account

    def messaging_type(self, reply: OutboundReply) -> dict[str, str]:
        """RESPONSE inside the 24-hour window; HUMAN_AGENT tag up to 7 days when allowed."""
        last = _parse_when(reply.context.get("last_customer_message_at"))
        if last is None:
            return {"messaging_type": "RESPONSE"}  # unknown: let Meta decide
        age = self.clock() - last
        if age <= STANDARD_WINDOW:
            return {"messaging_type": "RESPONSE"}
        ago = _hours(age)
        if reply.context.get("human_agent_tag"):
            if age <= HUMAN_AGENT_WINDOW:
                return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
            raise PermanentError(
                f"outside the 7-day HUMAN_AGENT window: the customer last wrote {ago} hours ago"
            )
        raise PermanentError(
            f"outside Meta's 24-hour messaging window: the customer last wrote {ago} hours ago "
            "(a HUMAN_AGENT tag would allow up to 7 days)"
        )

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        token = self.config.page_token
        if not token:
            raise PermanentError("FACEBOOK_PAGE_TOKEN is not set; replies cannot be sent")
        if not reply.text.strip():
            raise PermanentError("the reply is empty")
        if len(reply.text) > MAX_TEXT_CHARS:
            raise PermanentError(
                f"the reply has {len(reply.text)} characters; "
                f"{self.name} accepts at most {MAX_TEXT_CHARS}"
            )
        body = {
            "recipient": {"id": reply.customer.id},
            **self.messaging_type(reply),
            "message": {
                "text": reply.text,
                "metadata": f"{OUR_METADATA_PREFIX}{reply.id}"[:MAX_METADATA_CHARS],
            },
        }
        url = f"{self.config.graph_url}/{self.send_node(reply.account)}/messages"
        try:
            async with http.post(
                url,
                params={"access_token": token},
                data=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S),
            ) as resp:
                status, raw = resp.status, await resp.read()
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError) as err:
            # Never str(err): some aiohttp errors print the URL, and the URL holds the token.
            raise TransientError(f"Send API unreachable ({type(err).__name__})") from err
        data = _json_object(raw)
        if 200 <= status < 300:
            message_id = data.get("message_id") if data else None
            if not isinstance(message_id, str) or not message_id:
                log.warning("send api answered without message_id", channel=self.name)
                return SendResult(external_id=None)
            return SendResult(external_id=message_id)
        raise graph_error(status, data, retry_after)


class Instagram(Facebook):
    """Instagram Messaging: the same `entry[].messaging[]` shape; `account` is the IG id."""

    name: ClassVar[str] = "instagram"
    path: ClassVar[str] = "/webhooks/instagram"
    object_type: ClassVar[str] = "instagram"
    account_key: ClassVar[str] = "ig_account_id"

    def send_node(self, account: str) -> str:
        # With a Page token (Facebook Login), `me` is the Page linked to the IG account (§5).
        return "me"


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
        or status == 429
        or status >= 500
    ):
        return TransientError(text, retry_after=retry_after)
    return PermanentError(text)


# -- small readers that turn a wrong shape into InvalidPayload ---------------------------------


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(f"{where} must be an object")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"{where} must be a non-empty string")
    return value


def _opt_str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{where} must be a string")
    return value


def _id(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidPayload(f"{where} is not a Meta id")
    return value


def _time(value: object, where: str) -> datetime:
    """Epoch milliseconds → aware UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidPayload(f"{where} must be epoch milliseconds")
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise InvalidPayload(f"{where} is out of range") from err


def _attachment(value: object, where: str) -> tuple[str, Attachment]:
    raw = _obj(value, where)
    kind = _opt_str(raw.get("type"), f"{where}.type") or "file"
    payload = raw.get("payload")
    url = None
    if isinstance(payload, dict):
        url = _opt_str(payload.get("url"), f"{where}.payload.url")
    if url is None:  # legacy `fallback` attachments carry the url beside the type
        url = _opt_str(raw.get("url"), f"{where}.url")
    name = _file_name(url) or kind
    guessed = mimetypes.guess_type(name)[0] if "." in name else None
    content_type = guessed or _TYPE_FAMILY.get(kind, "application/octet-stream")
    return kind, Attachment(name=name, content_type=content_type, ref=url, url=url)


def _file_name(url: str | None) -> str | None:
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    name = posixpath.basename(unquote(path))
    return name[:200] or None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


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


def _hours(age: timedelta) -> int:
    return int(age.total_seconds() // 3600)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 < seconds <= 3600 else None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
