"""Naver TalkTalk chatbot API v1 (shared/channels/naver-talktalk.md).

Inbound: TalkTalk POSTs one event per request (§3): `send` (a customer message: text,
image or composite), `echo` (a message sent to the customer, by an agent in the partner
center or by us), and `open`, `leave`, `friend`, `handover`, which carry no text and never
become messages. TalkTalk signs nothing: the webhook can be limited to TalkTalk's address
ranges (`NAVER_TALKTALK_ALLOWED_IPS`, see webhook_guard) and the body is read strictly
(unknown events and wrong shapes are 400, with the raw body kept). We answer 200 with an
empty body (a JSON body would be read as a synchronous reply) after the PubAck, within a
3.5-second budget (TalkTalk reads for 5 s).

Outbound: the send API (§4) `POST NAVER_TALKTALK_URL` with `Authorization: <token>` (raw, no
"Bearer"). Errors come back as HTTP 200 with `success: false` and a `resultCode`; they are
permanent and the code is in the delivery report. HTTP 429 and 5xx are retried.

Checklist: dedup key: no message id, so a hash of account, event, user, content and the
arrival second; thread key `naver_talktalk:<account>:<user>`; account from
`NAVER_TALKTALK_ACCOUNT` (one TalkTalk account per webhook); text limit 10,000 characters;
loop guard: echoes of our own sends are dropped in `prepare` (echo_ledger), echoes typed in
the partner center are kept as `direction="out"` with `flags.echo`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

import aiohttp
import orjson
from aiohttp import web

from inbox_core.connector import RawRequest, SendResult, WebhookChannel
from inbox_core.errors import InvalidPayload, PermanentError
from inbox_core.http import Action, action_for_status
from inbox_core.schema import (
    Attachment,
    Customer,
    Direction,
    InboundMessage,
    MessageFlags,
    OutboundReply,
)
from inbox_ingest_social import metrics
from inbox_ingest_social.channels.outbound import call_json, http_failure
from inbox_ingest_social.channels.payload import (
    build_message,
    load_object,
    obj,
    opt_bool,
    opt_obj,
    opt_str,
    req_str,
    short,
    stable_id,
    url_attachment,
)
from inbox_ingest_social.echo_ledger import EchoLedger, sent_key

if TYPE_CHECKING:
    from inbox_ingest_social.settings import SocialSettings

DEFAULT_URL: Final = "https://gw.talk.naver.com/chatbot/v1/event"
MAX_TEXT_CHARS: Final = 10_000
SEND_TIMEOUT_S: Final = 10.0
MESSAGE_EVENTS: Final = frozenset({"send", "echo"})
# Events without text: acknowledged, never a message (they cannot start a conversation).
SILENT_EVENTS: Final = frozenset({"open", "leave", "friend", "handover"})
CONTENT_KEYS: Final = ("textContent", "imageContent", "compositeContent")
RESULT_CODES: Final = {
    "01": "the send API key is wrong or expired (NAVER_TALKTALK_TOKEN)",
    "02": "TalkTalk could not read the request",
    "99": "TalkTalk refused the message",
    "IMG-01": "image format not JPG, PNG or GIF",
    "IMG-02": "image download took over 10 seconds",
    "IMG-03": "image over 20 MB",
}

_USER_RE: Final = re.compile(r"^[A-Za-z0-9_\-=]{1,128}$")


@dataclass(frozen=True)
class TalkTalkConfig:
    token: str | None = field(default=None, repr=False)
    url: str = DEFAULT_URL

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> TalkTalkConfig:
        token = settings.naver_talktalk_token
        return cls(
            token=(token.get_secret_value() or None) if token is not None else None,
            url=settings.naver_talktalk_url,
        )


@dataclass(frozen=True)
class Content:
    text: str
    attachments: list[Attachment]
    fingerprint: str  # what identifies the content in the dedup hash
    context: dict[str, Any]


class NaverTalkTalk(WebhookChannel):
    name: ClassVar[str] = "naver_talktalk"
    path: ClassVar[str] = "/webhooks/naver-talktalk"
    publish_budget_s: ClassVar[float] = 3.5

    def __init__(
        self, account: str, config: TalkTalkConfig, *, ledger: EchoLedger | None = None
    ) -> None:
        super().__init__(account)
        self.config = config
        self.ledger = ledger

    # -- inbound ------------------------------------------------------------------------------

    def normalise(self, request: RawRequest) -> list[InboundMessage]:
        body = load_object(request.body)
        event = req_str(body.get("event"), "event")
        if event in SILENT_EVENTS:
            opt_obj(body.get("options"), "options")
            return []
        if event not in MESSAGE_EVENTS:
            raise InvalidPayload(f"unknown TalkTalk event {short(event)}")
        user = _user(body.get("user"))
        options = opt_obj(body.get("options"), "options")
        echo = event == "echo"
        if echo and (opt_str(body.get("echoedEvent"), "echoedEvent") or "send") != "send":
            return []  # an echo of a typing indicator or a menu: not a message
        content = _content(body)
        context: dict[str, Any] = {"talktalk_event": event, **content.context}
        mobile = opt_bool(options.get("mobile"), "options.mobile")
        if mobile is not None:
            context["mobile"] = mobile
        if opt_bool(body.get("standby"), "standby"):
            context["standby"] = True  # a partner-center agent holds the thread: no bot answer
        partner = opt_str(body.get("partner"), "partner")
        if echo and partner:
            context["partner"] = partner
        second = request.received_at.replace(microsecond=0).isoformat()
        return [
            build_message(
                event,
                channel=self.name,
                account=self.account,
                external_id=stable_id(
                    "talktalk", self.account, event, user, content.fingerprint, second
                ),
                direction=Direction.OUT if echo else Direction.IN,
                thread_keys=[f"{self.name}:{self.account}:{user}"],
                customer=Customer(id=user),
                text=content.text,
                attachments=content.attachments,
                received_at=request.received_at,
                context=context,
                flags=MessageFlags(echo=echo),
            )
        ]

    def acknowledge(self, request: RawRequest, messages: list[InboundMessage]) -> web.Response:
        return web.Response(status=200)  # an empty body: no synchronous reply

    async def prepare(
        self, messages: list[InboundMessage], http: aiohttp.ClientSession
    ) -> list[InboundMessage]:
        """Drop echoes of our own replies (the loop guard); keep the partner center's."""
        if self.ledger is None:
            return messages
        kept: list[InboundMessage] = []
        for message in messages:
            if message.flags.echo and not message.attachments:
                key = sent_key(self.name, message.account, message.customer.id, message.text)
                if await self.ledger.consume(key):
                    metrics.ECHOES_DROPPED.labels(self.name).inc()
                    continue
            kept.append(message)
        return kept

    # -- outbound -----------------------------------------------------------------------------

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        if reply.account != self.account:
            raise PermanentError(
                f"no TalkTalk account {reply.account!r} here (NAVER_TALKTALK_ACCOUNT is "
                f"{self.account!r})"
            )
        token = self.config.token
        if not token:
            raise PermanentError("NAVER_TALKTALK_TOKEN is not set; replies cannot be sent")
        text = reply.text.strip()
        if not text:
            raise PermanentError("the reply is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise PermanentError(
                f"the reply has {len(text)} characters; TalkTalk accepts at most {MAX_TEXT_CHARS}"
            )
        user = reply.customer.id
        if not _USER_RE.match(user):
            raise PermanentError("the customer id is not a TalkTalk user id")
        body = {
            "event": "send",
            "user": user,
            "textContent": {"text": text},
            "options": {"notification": True},  # push only when the customer is not in the chat
        }
        images = [a.url for a in reply.attachments]
        if not all(images):
            raise PermanentError("TalkTalk fetches images by URL; this reply has files without one")
        if self.ledger is not None:  # before the call: the echo may beat the answer
            await self.ledger.remember(reply.id, sent_key(self.name, self.account, user, text))
        await self._send_event(http, token, body)
        for url in images:  # then each image, which TalkTalk downloads from our public link
            image = {"event": "send", "user": user, "imageContent": {"imageUrl": url}}
            await self._send_event(http, token, image)
        return SendResult(external_id=None)  # TalkTalk returns no message id

    async def _send_event(
        self, http: aiohttp.ClientSession, token: str, body: dict[str, Any]
    ) -> None:
        answer = await call_json(
            http,
            "POST",
            self.config.url,
            what="TalkTalk send API",
            body=body,
            headers={"Authorization": token},
            timeout=SEND_TIMEOUT_S,
        )
        data = answer.data
        if action_for_status(answer.status) is not Action.OK:
            detail = str((data or {}).get("resultMessage") or "no detail")[:300]
            raise http_failure("TalkTalk send API", answer, detail)
        if data is None:
            raise PermanentError(
                "TalkTalk send API answered without a result; the reply may not have arrived"
            )
        code = str(data.get("resultCode") or "")
        if data.get("success") is True and code in ("00", ""):
            return
        raise PermanentError(talktalk_error(code, data.get("resultMessage")))


def talktalk_error(code: str, message: object) -> str:
    meaning = RESULT_CODES.get(code, "TalkTalk refused the message")
    detail = f": {str(message)[:300]}" if isinstance(message, str) and message else ""
    return f"TalkTalk error {code or '?'} ({meaning}){detail}"


def _user(value: object) -> str:
    user = req_str(value, "user")
    if not _USER_RE.match(user):
        raise InvalidPayload("user is not a TalkTalk user id")
    return user


def _content(body: dict[str, Any]) -> Content:
    present = [key for key in CONTENT_KEYS if body.get(key) is not None]
    if len(present) != 1:
        raise InvalidPayload(f"exactly one of {', '.join(CONTENT_KEYS)} is required")
    key = present[0]
    raw = obj(body[key], key)
    if key == "textContent":
        text = raw.get("text")
        if not isinstance(text, str):
            raise InvalidPayload("textContent.text must be a string")
        context: dict[str, Any] = {}
        code = opt_str(raw.get("code"), "textContent.code")
        if code:
            context["button_code"] = code
        input_type = opt_str(raw.get("inputType"), "textContent.inputType")
        if input_type:
            context["input_type"] = input_type
        return Content(text, [], f"text:{text}", context)
    if key == "imageContent":
        url = req_str(raw.get("imageUrl"), "imageContent.imageUrl")
        if not url.startswith(("https://", "http://")):
            raise InvalidPayload("imageContent.imageUrl must be an http(s) URL")
        return Content("", [url_attachment(url, "image", "image/*")], f"image:{url}", {})
    return _composite(raw)


def _composite(raw: dict[str, Any]) -> Content:
    items = raw.get("compositeList")
    if not isinstance(items, list) or not items:
        raise InvalidPayload("compositeContent.compositeList must be a non-empty list")
    lines: list[str] = []
    for i, item in enumerate(items):
        where = f"compositeContent.compositeList[{i}]"
        composite = obj(item, where)
        for part in ("title", "description"):
            value = opt_str(composite.get(part), f"{where}.{part}")
            if value:
                lines.append(value)
    fingerprint = "composite:" + orjson.dumps(items, option=orjson.OPT_SORT_KEYS).decode()
    return Content("\n".join(lines), [], fingerprint, {"composite": True})
