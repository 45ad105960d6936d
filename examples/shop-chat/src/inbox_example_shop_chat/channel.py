"""The Shop Chat channel: one module on the SDK (inbox_core.connector).

The platform (made up for the example, see simulator.py):

- webhook `POST /webhooks/shop-chat`, a JSON body
  `{"event_id", "shop", "user": {"id", "name"?}, "text", "sent_at"}`, signed with
  `X-Shop-Signature: sha256=<hex HMAC-SHA256(secret, body)>`;
- send API `POST {url}/v1/messages` `{"shop", "to", "text"}` with `Authorization: Bearer
  <token>`, answering `{"message_id"}`; 429 and 5xx (with `Retry-After`) are worth
  retrying, any other refusal is final (inbox_core.http's table).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final

import aiohttp

from inbox_core.connector import RawRequest, SendResult, WebhookChannel
from inbox_core.errors import AuthError, InvalidPayload, TransientError
from inbox_core.http import retry_after_from, send_error
from inbox_core.schema import Customer, InboundMessage, OutboundReply

SIGNATURE_HEADER: Final = "X-Shop-Signature"
SEND_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True)
class ShopChatConfig:
    secret: str | None = field(default=None, repr=False)  # signs webhooks
    token: str | None = field(default=None, repr=False)  # sends replies
    url: str = "https://api.shop-chat.example"


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"{where}: a non-empty string is required")
    return value


class ShopChat(WebhookChannel):
    """Every shop of the platform's app: `account` is the shop id."""

    name: ClassVar[str] = "shop_chat"
    path: ClassVar[str] = "/webhooks/shop-chat"
    publish_budget_s: ClassVar[float | None] = 4.0  # the platform waits 5 s for our answer

    def __init__(self, account: str, config: ShopChatConfig) -> None:
        super().__init__(account)
        self.config = config

    def verify(self, request: RawRequest) -> None:
        if self.config.secret is None:
            return  # mounted without a secret only with INBOX_INSECURE_WEBHOOKS
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given, signature(request.body, self.config.secret)):
            raise AuthError(f"{SIGNATURE_HEADER} missing or wrong")

    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        try:
            event = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InvalidPayload(f"body is not JSON: {err}") from err
        if not isinstance(event, dict):
            raise InvalidPayload("body: an object is required")
        user = event.get("user")
        if not isinstance(user, dict):
            raise InvalidPayload("user: an object is required")
        shop, user_id = _text(event.get("shop"), "shop"), _text(user.get("id"), "user.id")
        try:
            sent_at = datetime.fromisoformat(_text(event.get("sent_at"), "sent_at"))
        except ValueError as err:
            raise InvalidPayload(f"sent_at: not an ISO 8601 time: {err}") from err
        if sent_at.tzinfo is None:
            raise InvalidPayload("sent_at: a time zone is required")
        name = user.get("name")
        return [
            InboundMessage(
                channel=self.name,
                account=shop,
                external_id=_text(event.get("event_id"), "event_id"),
                thread_keys=[f"shop_chat:{shop}:{user_id}"],  # one thread per customer
                customer=Customer(id=user_id, name=name if isinstance(name, str) else None),
                text=_text(event.get("text"), "text"),
                received_at=sent_at,
            )
        ]

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        if self.config.token is None:
            raise send_error(401, "SHOP_CHAT_TOKEN is not set: replies cannot be sent")
        body = {"shop": reply.account, "to": reply.customer.id, "text": reply.text}
        try:
            async with http.post(
                f"{self.config.url}/v1/messages",
                json=body,
                headers={"Authorization": f"Bearer {self.config.token}"},
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S),
            ) as resp:
                answer = await resp.json(content_type=None) if resp.content_length != 0 else {}
                status, headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError, ValueError) as err:
            raise TransientError(f"Shop Chat unreachable ({type(err).__name__})") from err
        if not 200 <= status < 300:
            detail = answer.get("error") if isinstance(answer, dict) else None
            raise send_error(
                status,
                f"Shop Chat answered HTTP {status}: {detail or 'no reason given'}",
                retry_after=retry_after_from(headers),
            )
        message_id = answer.get("message_id") if isinstance(answer, dict) else None
        return SendResult(external_id=message_id if isinstance(message_id, str) else None)
