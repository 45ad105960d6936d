"""KakaoTalk channel through a Kakao i Open Builder skill (shared/channels/kakao.md).

Inbound: Open Builder POSTs a SkillPayload (§2) for each customer utterance. Kakao signs
nothing (§6): `X-Skill-Token` (a custom header set in the skill settings) is checked
against `KAKAO_SKILL_TOKEN` when set, and the body is read strictly. We answer a version
"2.0" SkillResponse (§3) with the acknowledgement text, only after the PubAck and well
inside Kakao's 5-second limit (§4): the publish gets a 3-second budget, else 503.

Callback (§5): when the block has callback enabled, the request carries `callbackUrl`,
single use and valid one minute. We then answer `useCallback: true` (the acknowledgement
goes in `data.text` for the block's waiting message) and keep the URL in the message's
context as `kakao_callback_url`, with `kakao_callback_expires_at`. A reply published on
`inbox.out.kakao.<bot id>` whose context carries both (the router's automatic answer, or an
agent quicker than a minute) is POSTed there while it is valid.

FAQ bot: when an FAQ entry answers the utterance with no agent (inbox_core.faq.bot_answer),
the answer goes in the SkillResponse itself, the fastest way back to the customer, and rides
on the message as context `bot_answer` (the router records it as the bot's delivered answer).
Not into a conversation an agent has (open or pending), never when a person is asked for.
`faq_checked` tells the router this check was made, so it sends no second answer later.

Outbound otherwise (§7, §8): Kakao has no free push to a channel user. Replies go through
a pluggable `KakaoSender` (상담톡 dealer API), and without one they are refused with a
reason the agent sees in the delivery report.

Checklist: dedup key: no message id in the payload, so a hash of bot, user, utterance and
the callback URL (unique per request) or else the arrival second; thread key
`kakao:<bot id>:<plusfriendUserKey, else botUserKey>`; account = `bot.id`; limits:
simpleText 1000 characters, 1–3 outputs; loop guard: Kakao sends no echoes.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from inbox_core.connector import RawRequest, SendResult, WebhookChannel
from inbox_core.errors import AuthError, InvalidPayload, PermanentError, TransientError
from inbox_core.faq import FaqCatalog, bot_answer
from inbox_core.http import Action, action_for_status
from inbox_core.logging import get_logger
from inbox_core.schema import Attachment, Customer, InboundMessage, OutboundReply, utcnow
from inbox_ingest_social import faq_lookup, metrics
from inbox_ingest_social.channels.kakao_senders import KakaoSender
from inbox_ingest_social.channels.outbound import call_json
from inbox_ingest_social.channels.payload import (
    build_message,
    load_object,
    obj,
    opt_bool,
    opt_obj,
    opt_str,
    req_str,
    stable_id,
)

if TYPE_CHECKING:
    from inbox_ingest_social.settings import SocialSettings

log = get_logger(__name__)

SKILL_TOKEN_HEADER: Final = "X-Skill-Token"
SKILL_VERSION: Final = "2.0"
TEXT_LIMIT: Final = 1000  # simpleText.text
MAX_OUTPUTS: Final = 3
CALLBACK_VALIDITY: Final = timedelta(minutes=1)
# The minute starts at Kakao before our clock sees the request; keep a margin.
CALLBACK_MARGIN: Final = timedelta(seconds=5)
CALLBACK_TIMEOUT_S: Final = 5.0
CALLBACK_RETRY_S: Final = 1.0  # nak delay when the callback failed for a passing reason
BOT_TEST_SURFACE: Final = "BuilderBotTest"

_BOT_ID_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_USER_KEY_RE: Final = re.compile(r"^[A-Za-z0-9_\-+/=]{1,128}$")


@dataclass(frozen=True)
class KakaoConfig:
    skill_token: str | None = field(default=None, repr=False)
    ack_text: str = "문의가 접수되었습니다. 순서대로 답변드릴게요."
    callback_hosts: tuple[str, ...] = ("kakao.com",)
    # KAKAO_CALLBACK_ALLOW_LOCAL: http, any port, this machine (simulators only).
    allow_local: bool = False

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> KakaoConfig:
        token = settings.kakao_skill_token
        return cls(
            skill_token=(token.get_secret_value() or None) if token is not None else None,
            ack_text=settings.kakao_ack_text,
            callback_hosts=tuple(settings.kakao_callback_host_list()),
            allow_local=settings.kakao_callback_allow_local,
        )

    def callback_allowed(self, url: str) -> bool:
        """A callback URL comes from the request body, so it is only ever POSTed to when it is
        `https` on the default port, on a configured host (or its subdomains), with no
        user info and no loopback, private or link-local address literal. The names it
        resolves to are checked before each call (`callback_resolves_public`)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if not any(
            host == allowed or host.endswith("." + allowed) for allowed in self.callback_hosts
        ):
            return False
        if self.allow_local:
            return parts.scheme in ("https", "http")
        if parts.scheme != "https" or port not in (None, 443) or "@" in parts.netloc:
            return False
        try:
            return is_public(ipaddress.ip_address(host))
        except ValueError:
            return True  # a name: its addresses are checked before the call

    async def callback_resolves_public(self, url: str) -> bool:
        """Whether every address the callback's host resolves to is public (DNS can point
        an allowed name at this machine or the private network)."""
        if self.allow_local:
            return True
        host = urlsplit(url).hostname or ""
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM), 5
            )
        except (OSError, TimeoutError):
            return False
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
        return bool(addresses) and all(is_public(a) for a in addresses)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def split_text(text: str, limit: int = TEXT_LIMIT, parts: int = MAX_OUTPUTS) -> list[str] | None:
    """Text in at most `parts` chunks of `limit` characters (cut at line ends when possible);
    None when it does not fit."""
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            chunks.append(rest)
            break
        cut = rest.rfind("\n", limit // 2, limit)
        cut = cut if cut > 0 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return chunks if 0 < len(chunks) <= parts else None


def skill_response(text: str, images: Sequence[Attachment] = ()) -> dict[str, Any]:
    """A SkillResponse (§3) with the text in 1–3 simpleText bubbles, then a simpleImage per
    image (Kakao fetches `imageUrl`; at most 3 outputs in all)."""
    chunks = split_text(text) or [text.strip()[:TEXT_LIMIT]]
    outputs: list[dict[str, Any]] = [{"simpleText": {"text": chunk}} for chunk in chunks]
    outputs += [
        {"simpleImage": {"imageUrl": image.url, "altText": image.name[:TEXT_LIMIT]}}
        for image in images
    ]
    return {"version": SKILL_VERSION, "template": {"outputs": outputs}}


class CallbackRefused(Exception):
    """Kakao refused the callback (used, expired, wrong token): the sender may try instead."""


class Kakao(WebhookChannel):
    """One Open Builder skill endpoint; `account` is the bot id of each request."""

    name: ClassVar[str] = "kakao"
    path: ClassVar[str] = "/webhooks/kakao"
    publish_budget_s: ClassVar[float] = 3.0

    def __init__(
        self,
        account: str,
        config: KakaoConfig,
        *,
        sender: KakaoSender | None = None,
        clock: Callable[[], datetime] = utcnow,
        faq: FaqCatalog | None = None,
    ) -> None:
        super().__init__(account)
        self.config = config
        self.sender = sender
        self.clock = clock
        self.faq = faq

    # -- inbound ------------------------------------------------------------------------------

    def verify(self, request: RawRequest) -> None:
        expected = self.config.skill_token
        if not expected:
            return  # no token configured: anyone may call (the README says to set one)
        given = request.headers.get(SKILL_TOKEN_HEADER)
        if not given:
            raise AuthError(f"{SKILL_TOKEN_HEADER} header missing")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            raise AuthError(f"{SKILL_TOKEN_HEADER} does not match KAKAO_SKILL_TOKEN")

    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        body = load_object(request.body)
        user_request = obj(body.get("userRequest"), "userRequest")
        bot = obj(body.get("bot"), "bot")
        bot_id = req_str(bot.get("id"), "bot.id")
        if not _BOT_ID_RE.match(bot_id):
            raise InvalidPayload("bot.id is not a Kakao bot id")
        user = obj(user_request.get("user"), "userRequest.user")
        bot_user_key = _user_key(user.get("id"), "userRequest.user.id")
        props = opt_obj(user.get("properties"), "userRequest.user.properties")
        friend_key = props.get("plusfriendUserKey")
        friend_key = None if friend_key is None else _user_key(friend_key, "plusfriendUserKey")
        utterance = user_request.get("utterance")
        if not isinstance(utterance, str):
            raise InvalidPayload("userRequest.utterance must be a string")
        callback_url = opt_str(user_request.get("callbackUrl"), "userRequest.callbackUrl")
        context = self._context(body, user_request, props, bot_id, bot_user_key, friend_key)
        if callback_url:
            context.update(self._callback_context(callback_url, request.received_at))
        if not utterance.strip():
            return []  # nothing said (e.g. a welcome block): no message, still acknowledged
        nonce = callback_url or request.received_at.replace(microsecond=0).isoformat()
        customer_id = friend_key or bot_user_key
        return [
            build_message(
                "userRequest",
                channel=self.name,
                account=bot_id,
                external_id=stable_id("skill", bot_id, bot_user_key, utterance, nonce),
                thread_keys=[f"{self.name}:{bot_id}:{customer_id}"],
                customer=Customer(id=customer_id),
                text=utterance,
                received_at=request.received_at,
                context=context,
            )
        ]

    def _context(
        self,
        body: dict[str, Any],
        user_request: dict[str, Any],
        props: dict[str, Any],
        bot_id: str,
        bot_user_key: str,
        friend_key: str | None,
    ) -> dict[str, Any]:
        context: dict[str, Any] = {"bot_id": bot_id, "bot_user_key": bot_user_key}
        if friend_key:
            context["plusfriend_user_key"] = friend_key
        is_friend = opt_bool(props.get("isFriend"), "userRequest.user.properties.isFriend")
        if is_friend is not None:
            context["is_friend"] = is_friend
        app_user = opt_str(props.get("appUserId"), "userRequest.user.properties.appUserId")
        if app_user:
            context["app_user_id"] = app_user
        names = {
            "bot_name": opt_obj(body.get("bot"), "bot").get("name"),
            "block": opt_obj(user_request.get("block"), "userRequest.block").get("name"),
            "intent": opt_obj(body.get("intent"), "intent").get("name"),
            "trigger": opt_obj(
                opt_obj(body.get("flow"), "flow").get("trigger"), "flow.trigger"
            ).get("type"),
        }
        context.update({k: v for k, v in names.items() if isinstance(v, str) and v})
        surface = opt_obj(user_request.get("params"), "userRequest.params").get("surface")
        if isinstance(surface, str):
            context["surface"] = surface
            if surface == BOT_TEST_SURFACE:
                context["bot_test"] = True  # the builder's test chat, not a customer
        action = opt_obj(body.get("action"), "action")
        for key, target in (("params", "params"), ("clientExtra", "client_extra")):
            value = opt_obj(action.get(key), f"action.{key}")
            if value:
                context[target] = value
        return context

    def _callback_context(self, url: str, received_at: datetime) -> dict[str, Any]:
        if not self.config.callback_allowed(url):
            return {"kakao_callback_ignored": "not https on a host in KAKAO_CALLBACK_HOSTS"}
        expires = received_at + CALLBACK_VALIDITY - CALLBACK_MARGIN
        return {"kakao_callback_url": url, "kakao_callback_expires_at": expires.isoformat()}

    async def prepare(
        self, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]:
        """The FAQ bot's answer, when there is one, rides on the message (see the docstring)."""
        if self.faq is None or not self.faq.loaded:
            return messages  # no entries read yet: the router decides
        for message in messages:
            try:
                if await faq_lookup.agent_has_thread(self.faq, message):
                    message.context["faq_checked"] = True
                    continue
            except Exception as err:  # the store is away: the router decides later
                log.warning("kakao: conversation state unknown", error=repr(err))
                continue
            answer = bot_answer(self.faq.snapshot, message, now=self.clock())
            message.context["faq_checked"] = True
            if answer is not None:
                message.context["bot_answer"] = answer.model_dump(
                    mode="json", include={"faq_id", "score", "text"}
                )
                metrics.KAKAO_REPLY_ROUTE.labels("faq_skill_response").inc()
        return messages

    def acknowledge(self, request: RawRequest, messages: list[InboundMessage]) -> web.Response:
        """The SkillResponse: the bot's answer; else `useCallback` when a callback URL is
        kept; else the acknowledgement text."""
        answers = [m.context["bot_answer"]["text"] for m in messages if "bot_answer" in m.context]
        if answers:
            return web.json_response(skill_response("\n\n".join(answers)))
        if any(m.context.get("kakao_callback_url") for m in messages):
            body: dict[str, Any] = {
                "version": SKILL_VERSION,
                "useCallback": True,
                "data": {"text": self.config.ack_text},
            }
        else:
            body = skill_response(self.config.ack_text)
        return web.json_response(body)

    # -- outbound -----------------------------------------------------------------------------

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        if not reply.text.strip():
            raise PermanentError("the reply is empty")
        problem: str | None = None
        url = reply.context.get("kakao_callback_url")
        if isinstance(url, str) and url:
            problem = self._callback_problem(url, reply)
            if problem is None and not await self.config.callback_resolves_public(url):
                problem = "the chatbot callback URL resolves to a private or local address"
                log.warning("kakao callback refused: private or local address")
            if problem is None:
                try:
                    result = await self._post_callback(url, reply.text, http, reply.attachments)
                except CallbackRefused as err:
                    problem = f"Kakao refused the chatbot callback: {err}"
                    metrics.KAKAO_REPLY_ROUTE.labels("callback_refused").inc()
                else:
                    metrics.KAKAO_REPLY_ROUTE.labels("callback").inc()
                    return result
            else:
                metrics.KAKAO_REPLY_ROUTE.labels("callback_expired").inc()
        if reply.attachments:  # the dealer's API takes images only through its own upload
            metrics.KAKAO_REPLY_ROUTE.labels("refused").inc()
            raise PermanentError(
                "Kakao takes images only in the chatbot callback: "
                f"{problem or 'the customer did not write through the chatbot'}"
            )
        if self.sender is None:
            metrics.KAKAO_REPLY_ROUTE.labels("refused").inc()
            raise PermanentError(no_sender_reason(problem))
        metrics.KAKAO_REPLY_ROUTE.labels("sender").inc()
        return await self.sender.send(reply, http)

    def _callback_problem(self, url: str, reply: OutboundReply) -> str | None:
        """Why the callback cannot carry this reply, or None when it can."""
        if not self.config.callback_allowed(url):
            return (
                "the chatbot callback URL is not https on a host in KAKAO_CALLBACK_HOSTS "
                "(default port, public address)"
            )
        expires = _parse_when(reply.context.get("kakao_callback_expires_at"))
        if expires is None or self.clock() >= expires:
            return "the chatbot callback (valid one minute after the customer wrote) expired"
        chunks = split_text(reply.text)
        if chunks is None:
            return f"the reply is longer than {MAX_OUTPUTS * TEXT_LIMIT} characters"
        if len(chunks) + len(reply.attachments) > MAX_OUTPUTS:
            return f"text and images take more than the {MAX_OUTPUTS} bubbles of one answer"
        if not all(a.url for a in reply.attachments):
            return "an image has no public link (INBOX_PUBLIC_URL)"
        return None

    async def _post_callback(
        self,
        url: str,
        text: str,
        http: aiohttp.ClientSession,
        images: Sequence[Attachment] = (),
    ) -> SendResult:
        try:
            answer = await call_json(
                http,
                "POST",
                url,
                what="Kakao callback",
                body=skill_response(text, images),
                timeout=CALLBACK_TIMEOUT_S,
            )
        except TransientError as err:  # the URL expires soon: retry quickly
            raise TransientError(str(err), retry_after=CALLBACK_RETRY_S) from err
        data = answer.data or {}
        status = data.get("status")
        message = str(data.get("message") or f"HTTP {answer.status}")[:300]
        if status == "SUCCESS" and action_for_status(answer.status) is Action.OK:
            task = data.get("taskId")
            return SendResult(external_id=str(task) if task else None)
        if status == "ERROR" or action_for_status(answer.status).retryable:
            raise TransientError(f"Kakao callback failed: {message}", retry_after=CALLBACK_RETRY_S)
        raise CallbackRefused(message)


def no_sender_reason(problem: str | None) -> str:
    reason = (
        "KakaoTalk allows no free message to a channel user after the chatbot's answer, and "
        "no 상담톡 sender is configured (KAKAO_SENDER_URL): the reply was not delivered. "
        "Answer the customer from the Kakao channel admin center (카카오톡 채널 관리자센터)."
    )
    return f"{reason} ({problem})" if problem else reason


def _user_key(value: object, where: str) -> str:
    key = req_str(value, where)
    if not _USER_KEY_RE.match(key):
        raise InvalidPayload(f"{where} is not a Kakao user key")
    return key


def _parse_when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
