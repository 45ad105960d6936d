"""Facebook Messenger and Instagram Messaging: one webhook shape, one Send API.

What is known of the platform is in shared/channels/meta.md; the section numbers below
refer to it. Inbound: Meta signs every POST with `X-Hub-Signature-256` (§3) and batches
events as `entry[].messaging[]` (§2); we answer `EVENT_RECEIVED` only after the PubAck (the
SDK does that). Outbound: the Send API (§5) inside the 24-hour window (§6), with the Graph
error codes of §8 mapped to retry / give up (both in `meta_graph`).

`normalise` is pure: no I/O, no clock (the fallback time comes from the request). Customer
names come afterwards, in `prepare` (bounded, cached, never failing the webhook).

Checklist: dedup key `mid` (postbacks without one: a hash); thread key
`<channel>:<page or IG id>:<PSID or IGSID>`; text limit 2000; loop guard: our replies carry
`metadata = "inbox:<reply id>"` and their echoes are dropped; rate limits: see meta_graph.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

import aiohttp
from aiohttp import web

from inbox_core.connector import RawRequest, SendResult, WebhookChannel
from inbox_core.errors import AuthError, PermanentError
from inbox_core.logging import get_logger
from inbox_core.schema import InboundMessage, OutboundReply, utcnow
from inbox_ingest_social.channels.meta_events import OUR_METADATA_PREFIX, MetaEvents, postback_id
from inbox_ingest_social.channels.meta_graph import (
    ProfileLookup,
    messaging_type,
    post_message,
    upload_attachment,
)

if TYPE_CHECKING:
    from inbox_ingest_social.settings import SocialSettings

__all__ = ["Facebook", "Instagram", "MetaConfig", "expected_signature", "postback_id"]

log = get_logger(__name__)

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
ACK_BODY: Final = "EVENT_RECEIVED"
DEFAULT_GRAPH_URL: Final = "https://graph.facebook.com/v21.0"

# Limits as data (§5).
MAX_TEXT_CHARS: Final = 2000
MAX_METADATA_CHARS: Final = 1000


@dataclass(frozen=True)
class MetaConfig:
    """Credentials and endpoint of the Meta app (one page token serves every page)."""

    app_secret: str | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)
    page_token: str | None = field(default=None, repr=False)
    graph_url: str = DEFAULT_GRAPH_URL
    profile_lookup: bool = True  # fill customer names from the Graph API
    # INBOX_INSECURE_WEBHOOKS without an app secret: unsigned webhooks accepted (development).
    unsigned_ok: bool = False

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> MetaConfig:
        def secret(value: Any) -> str | None:
            return (value.get_secret_value() or None) if value is not None else None

        return cls(
            app_secret=secret(settings.facebook_app_secret),
            verify_token=secret(settings.facebook_verify_token),
            page_token=secret(settings.facebook_page_token),
            graph_url=settings.meta_graph_url.rstrip("/"),
            profile_lookup=settings.facebook_profile_lookup,
            unsigned_ok=settings.insecure_webhooks and settings.facebook_app_secret is None,
        )


def expected_signature(body: bytes, secret: str) -> str:
    """`sha256=<lowercase hex HMAC-SHA256(app secret, raw body)>` (§3)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Facebook(MetaEvents, WebhookChannel):
    """Messenger for every page the app is subscribed to: `account` is the page id."""

    name: ClassVar[str] = "facebook"
    path: ClassVar[str] = "/webhooks/facebook"
    object_type: ClassVar[str] = "page"  # the webhook body's `object`
    account_key: ClassVar[str] = "page_id"  # how `context` names the account
    profile_fields: ClassVar[str] = "name,first_name,last_name,profile_pic"

    def __init__(
        self,
        account: str,
        config: MetaConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
        profiles: ProfileLookup | None = None,
    ) -> None:
        super().__init__(account)
        self.config = config
        self.clock = clock
        self.profiles = profiles

    @classmethod
    def profile_lookup(cls, config: MetaConfig) -> ProfileLookup | None:
        """The lookup a webhook instance uses; None when disabled or without a token."""
        if not config.profile_lookup or not config.page_token:
            return None
        return ProfileLookup(config.graph_url, config.page_token, cls.profile_fields)

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
            if self.config.unsigned_ok:
                return  # INBOX_INSECURE_WEBHOOKS: development only, warned at start
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

    # -- after normalise, before publish: customer names (I/O, bounded, never fails) ---------

    async def prepare(
        self, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]:
        if self.profiles is None:
            return messages
        return await self.profiles.enrich(self.name, messages, http)

    # -- Send API (meta_graph) ----------------------------------------------------------------

    def send_node(self, account: str) -> str:
        """The Graph node whose `/messages` edge sends as this account (§5)."""
        return account

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
        node = self.send_node(reply.account)
        # Files first go through the Attachment Upload API (nothing reaches the customer
        # yet, so a failure here sends nothing), then text and files as messages.
        uploaded = [
            await upload_attachment(http, self.config.graph_url, node, token, file)
            for file in await self.reply_files(reply)
        ]
        window = messaging_type(reply.context, self.clock())
        body = {
            "recipient": {"id": reply.customer.id},
            **window,
            "message": {
                "text": reply.text,
                "metadata": f"{OUR_METADATA_PREFIX}{reply.id}"[:MAX_METADATA_CHARS],
            },
        }
        result = await post_message(http, self.config.graph_url, node, token, body)
        for kind, attachment_id in uploaded:
            await post_message(
                http,
                self.config.graph_url,
                node,
                token,
                {
                    "recipient": {"id": reply.customer.id},
                    **window,
                    "message": {
                        "attachment": {"type": kind, "payload": {"attachment_id": attachment_id}}
                    },
                },
            )
        return result


class Instagram(Facebook):
    """Instagram Messaging: the same `entry[].messaging[]` shape; `account` is the IG id."""

    name: ClassVar[str] = "instagram"
    path: ClassVar[str] = "/webhooks/instagram"
    object_type: ClassVar[str] = "instagram"
    account_key: ClassVar[str] = "ig_account_id"
    profile_fields: ClassVar[str] = "name,username,profile_pic"

    def send_node(self, account: str) -> str:
        # With a Page token (Facebook Login), `me` is the Page linked to the IG account (§5).
        return "me"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
