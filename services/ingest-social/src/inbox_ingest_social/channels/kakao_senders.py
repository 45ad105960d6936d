"""Pluggable senders for Kakao agent replies (shared/channels/kakao.md §5, §7, §8).

Kakao i Open Builder can only answer a skill request (at once, or once through the callback
within a minute). Kakao gives no free push to a channel user, so a reply an agent writes
later needs a paid partner product: 상담톡 through an official dealer, or 알림톡/친구톡
through a BizMessage reseller. Each partner has its own wire format, so the sender is a
small protocol; `ConsultTalkSender` speaks the 상담톡 send API in the shape of HappyTalk's
`POST /v1/chat/write` (headers `HT-Client-Id`, `HT-Client-Secret`; body `user_key`,
`sender_key`, `serial_number`, `message_type`, `message`). Another dealer is another class
with a `send` method, passed to `create_app(kakao_sender=...)`.

Unconfirmed (see the README): the dealer's answer body (`{"code": "200", ...}` is assumed,
as on HappyTalk's other endpoints) and whether its `user_key` equals the Open Builder
`plusfriendUserKey`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final, Protocol

import aiohttp

from inbox_core.connector import SendResult
from inbox_core.errors import PermanentError
from inbox_core.http import Action, action_for_status
from inbox_core.schema import OutboundReply
from inbox_ingest_social.channels.outbound import call_json, http_failure

if TYPE_CHECKING:
    from inbox_ingest_social.settings import SocialSettings

CONSULT_TEXT_LIMIT: Final = 1000
USER_KEY_LIMIT: Final = 20
SERIAL_LIMIT: Final = 30
SEND_TIMEOUT_S: Final = 10.0
SUCCESS_CODES: Final = frozenset({"200", "0000"})


class KakaoSender(Protocol):
    """Delivers an agent reply to a KakaoTalk channel user outside the skill answer."""

    @property
    def kind(self) -> str:
        """A short name for /healthz (e.g. "consult_talk")."""
        ...

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        """Raise TransientError to retry, PermanentError (with a reason) to give up."""
        ...


@dataclass(frozen=True)
class ConsultTalkSender:
    """상담톡 through a dealer API (HappyTalk's `/v1/chat/write` shape)."""

    url: str  # the full send endpoint, e.g. https://kakao-api.happytalk.io/v1/chat/write
    client_id: str
    secret: str = field(repr=False)
    sender_key: str = field(repr=False)  # 발신프로필 키 of the channel
    kind: ClassVar[str] = "consult_talk"

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        user_key = reply.customer.id
        if len(user_key) > USER_KEY_LIMIT:
            raise PermanentError(
                "this customer is known only by a chatbot user key; 상담톡 needs the "
                "channel user key (plusfriendUserKey), so the reply cannot be sent"
            )
        text = reply.text.strip()
        if not text:
            raise PermanentError("the reply is empty")
        if len(text) > CONSULT_TEXT_LIMIT:
            raise PermanentError(
                f"the reply has {len(text)} characters; 상담톡 accepts at most {CONSULT_TEXT_LIMIT}"
            )
        serial = reply.id[:SERIAL_LIMIT]  # stable per reply: a retry is the same message
        body = {
            "user_key": user_key,
            "sender_key": self.sender_key,
            "serial_number": serial,
            "message_type": "TX",
            "message": text,
        }
        headers = {"HT-Client-Id": self.client_id, "HT-Client-Secret": self.secret}
        answer = await call_json(
            http,
            "POST",
            self.url,
            what="상담톡 send API",
            body=body,
            headers=headers,
            timeout=SEND_TIMEOUT_S,
        )
        data = answer.data or {}
        code = str(data.get("code", "")).strip()
        message = str(data.get("message") or "").strip()[:300]
        if action_for_status(answer.status) is not Action.OK:
            raise http_failure("상담톡 send API", answer, message or f"code {code or '?'}")
        if code not in SUCCESS_CODES:
            detail = f": {message}" if message else ""
            raise PermanentError(f"상담톡 refused the reply (code {code or 'missing'}){detail}")
        return SendResult(external_id=serial)


def sender_from_settings(settings: SocialSettings) -> KakaoSender | None:
    """The configured sender, or None (agent replies are then refused with a reason)."""
    if not settings.kakao_sender_url:
        return None
    key = settings.kakao_sender_key.get_secret_value() if settings.kakao_sender_key else None
    missing = [
        name
        for name, value in (
            ("KAKAO_SENDER_KEY", key),
            ("KAKAO_SENDER_CLIENT_ID", settings.kakao_sender_client_id),
            ("KAKAO_SENDER_PROFILE_KEY", settings.kakao_sender_profile_key),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"KAKAO_SENDER_URL is set but {', '.join(missing)} is not")
    assert key and settings.kakao_sender_client_id and settings.kakao_sender_profile_key
    return ConsultTalkSender(
        url=settings.kakao_sender_url,
        client_id=settings.kakao_sender_client_id,
        secret=key,
        sender_key=settings.kakao_sender_profile_key,
    )
