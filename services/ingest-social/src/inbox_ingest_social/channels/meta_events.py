"""Reading Meta's webhook body (`entry[].messaging[]`, shared/channels/meta.md §2): pure.

Messenger and Instagram share the shape; the channel class gives `name`, `object_type` and
`account_key`. Every entry of a batch counts; delivery, read and reaction events are not
messages; echoes of the page's own replies become `direction="out"` with `flags.echo`, and
echoes carrying our own `metadata` marker are dropped (the loop guard).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from inbox_core.connector import RawRequest
from inbox_core.errors import InvalidPayload
from inbox_core.schema import Attachment, Customer, Direction, InboundMessage, MessageFlags
from inbox_ingest_social.channels.payload import (
    build_message,
    load_object,
    obj,
    opt_str,
    req_str,
    short,
    url_attachment,
)

# Our outbound messages carry `metadata = "inbox:<reply id>"`; Meta echoes it back, so an
# echo carrying it is our own reply (already recorded by the notifier) and is dropped:
# the loop guard of §2 without having to know our own app id.
OUR_METADATA_PREFIX: Final = "inbox:"

# Meta ids (page, PSID, IGSID, IG account) are digits; allow a little more, never '.', ':'.
_ID_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

# Meta attachment type → a MIME family when the URL names no file type.
_TYPE_FAMILY: Final[Mapping[str, str]] = {
    "image": "image/*",
    "audio": "audio/*",
    "video": "video/*",
    "reel": "video/*",
    "ig_reel": "video/*",
}


def postback_id(sender: str, timestamp: object, payload: str | None) -> str:
    """A stable external id for a postback that carries no `mid` (e.g. older Get Started)."""
    digest = hashlib.sha256(f"{sender}\x1f{timestamp}\x1f{payload or ''}".encode()).hexdigest()
    return f"postback:{digest[:40]}"


class MetaEvents:
    """`normalise` for a Meta channel class (mixed into Facebook and Instagram)."""

    name: ClassVar[str]
    object_type: ClassVar[str]  # the webhook body's `object`
    account_key: ClassVar[str]  # how `context` names the account

    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        body = load_object(request.body)
        if body.get("object") != self.object_type:
            raise InvalidPayload(
                f"expected object {self.object_type!r}, got {short(body.get('object'))}"
            )
        entries = body.get("entry")
        if not isinstance(entries, list):
            raise InvalidPayload("`entry` must be a list")
        messages: list[InboundMessage] = []
        for i, entry in enumerate(entries):  # batched: every entry counts (§2)
            messages.extend(self._entry(obj(entry, f"entry[{i}]"), i, request.received_at))
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
            message = self._event(account, obj(raw, where), where, fallback)
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
        sender = _id(obj(event.get("sender"), f"{where}.sender").get("id"), f"{where}.sender.id")
        recipient = _id(
            obj(event.get("recipient"), f"{where}.recipient").get("id"), f"{where}.recipient.id"
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
        message = obj(event.get("message"), f"{where}.message")
        if message.get("is_deleted") is True:
            return None  # the customer unsent an earlier message (Instagram)
        mid = req_str(message.get("mid"), f"{where}.message.mid")
        echo = message.get("is_echo") is True
        metadata = opt_str(message.get("metadata"), f"{where}.message.metadata")
        if echo and metadata is not None and metadata.startswith(OUR_METADATA_PREFIX):
            return None  # our own reply coming back: the loop guard
        context: dict[str, Any] = {self.account_key: account}
        quick_reply = message.get("quick_reply")
        if quick_reply is not None:
            payload = opt_str(
                obj(quick_reply, f"{where}.message.quick_reply").get("payload"),
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
            text=opt_str(message.get("text"), f"{where}.message.text") or "",
            attachments=attachments,
            at=at,
            context=context,
            flags=MessageFlags(echo=echo),
            where=where,
        )

    def _postback(
        self, account: str, event: dict[str, Any], sender: str, at: datetime, where: str
    ) -> InboundMessage:
        postback = obj(event.get("postback"), f"{where}.postback")
        title = opt_str(postback.get("title"), f"{where}.postback.title")
        payload = opt_str(postback.get("payload"), f"{where}.postback.payload")
        mid = opt_str(postback.get("mid"), f"{where}.postback.mid")
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
        return build_message(
            where,
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


# -- small readers that turn a wrong shape into InvalidPayload ---------------------------------


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
    raw = obj(value, where)
    kind = opt_str(raw.get("type"), f"{where}.type") or "file"
    payload = raw.get("payload")
    url = None
    if isinstance(payload, dict):
        url = opt_str(payload.get("url"), f"{where}.payload.url")
    if url is None:  # legacy `fallback` attachments carry the url beside the type
        url = opt_str(raw.get("url"), f"{where}.url")
    return kind, url_attachment(url, kind, _TYPE_FAMILY.get(kind))
