"""Who may talk to the webhook: the GET verify handshake and the X-Hub-Signature-256 check."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from inbox_core.connector import RawRequest
from inbox_core.errors import AuthError
from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig
from inbox_ingest_social.simulators.meta import build_message_event, encode, sign

SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VERIFY_TOKEN = "상점-verify-2025"
PAGE = "104857600123456"
PSID = "6543210987654321"

RawFactory = Callable[..., RawRequest]


def _channel(**config: str) -> Facebook:
    return Facebook(
        "*", MetaConfig(**{"app_secret": SECRET, "verify_token": VERIFY_TOKEN, **config})
    )


BODY = encode(build_message_event(PAGE, PSID, "배송 언제 되나요?", mid="m_sig_1"))


def test_signed_body_passes(raw_request: RawFactory) -> None:
    _channel().verify(raw_request(BODY, {"X-Hub-Signature-256": sign(BODY, SECRET)}))


def test_signature_is_over_raw_utf8_bytes_too(raw_request: RawFactory) -> None:
    body = json.dumps(build_message_event(PAGE, PSID, "환불 문의"), ensure_ascii=False).encode()
    _channel().verify(raw_request(body, {"x-hub-signature-256": sign(body, SECRET)}))


REFUSED = {
    "tampered_body": (
        BODY.replace(b"m_sig_1", b"m_sig_2"),
        {"X-Hub-Signature-256": sign(BODY, SECRET)},
    ),
    "wrong_secret": (BODY, {"X-Hub-Signature-256": sign(BODY, "another-app-secret")}),
    "missing_header": (BODY, {}),
    "sha1_header_only": (BODY, {"X-Hub-Signature": "sha1=" + "0" * 40}),
    "no_algorithm_prefix": (BODY, {"X-Hub-Signature-256": sign(BODY, SECRET)[7:]}),
    "not_hex": (BODY, {"X-Hub-Signature-256": "sha256=서명"}),
}


@pytest.mark.parametrize(("body", "headers"), REFUSED.values(), ids=REFUSED.keys())
def test_bad_signature_is_refused(
    body: bytes, headers: dict[str, str], raw_request: RawFactory
) -> None:
    with pytest.raises(AuthError):
        _channel().verify(raw_request(body, headers))


def test_every_post_is_refused_without_app_secret(raw_request: RawFactory) -> None:
    channel = Facebook("*", MetaConfig(app_secret=None))
    with pytest.raises(AuthError, match="FACEBOOK_APP_SECRET is not set"):
        channel.verify(raw_request(BODY, {"X-Hub-Signature-256": sign(BODY, SECRET)}))


GOOD_QUERY = {
    "hub.mode": "subscribe",
    "hub.verify_token": VERIFY_TOKEN,
    "hub.challenge": "1158201444",
}
HANDSHAKES = {
    "good_token": (GOOD_QUERY, {}, 200, "1158201444"),
    "wrong_token": ({**GOOD_QUERY, "hub.verify_token": "guess"}, {}, 403, None),
    "missing_token": ({"hub.mode": "subscribe", "hub.challenge": "1"}, {}, 403, None),
    "wrong_mode": ({**GOOD_QUERY, "hub.mode": "unsubscribe"}, {}, 403, None),
    "no_token_configured": (GOOD_QUERY, {"verify_token": ""}, 403, None),
    "missing_challenge": (
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {},
        400,
        None,
    ),
}


@pytest.mark.parametrize(
    ("query", "config", "status", "body"), HANDSHAKES.values(), ids=HANDSHAKES.keys()
)
def test_verify_handshake(
    query: dict[str, str],
    config: dict[str, str],
    status: int,
    body: str | None,
    raw_request: RawFactory,
) -> None:
    response = _channel(**config).handshake(raw_request(method="GET", query=query))
    assert response.status == status
    assert response.content_type == "text/plain"
    if body is not None:
        assert response.text == body


def test_instagram_shares_the_handshake(raw_request: RawFactory) -> None:
    channel = Instagram("*", MetaConfig(verify_token=VERIFY_TOKEN))
    response = channel.handshake(
        raw_request(method="GET", path="/webhooks/instagram", query=GOOD_QUERY)
    )
    assert (response.status, response.text) == (200, "1158201444")
