"""Kakao callback URLs come from the request body, so they are POSTed to only when they are
https on the default port of an allowed host, and never to loopback, private or link-local
addresses, whether written in the URL or resolved from the name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from inbox_core.errors import PermanentError
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig

HOSTS = ("kakao.com", "localhost", "127.0.0.1", "10.0.0.5", "169.254.169.254", "::1")
CONFIG = KakaoConfig(callback_hosts=HOSTS)
CALLBACK = "/v1/bots/5ae9b76d7409b11ec845b746/callback/tok"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (f"https://bot-api.kakao.com{CALLBACK}", True),
        (f"https://bot-api.kakao.com:443{CALLBACK}", True),
        (f"http://bot-api.kakao.com{CALLBACK}", False),
        (f"https://bot-api.kakao.com:8443{CALLBACK}", False),
        (f"https://user:pw@bot-api.kakao.com{CALLBACK}", False),
        (f"https://evil.example{CALLBACK}", False),
        (f"https://kakao.com.evil.example{CALLBACK}", False),
        (f"https://127.0.0.1{CALLBACK}", False),
        (f"https://10.0.0.5{CALLBACK}", False),
        (f"https://169.254.169.254{CALLBACK}", False),
        (f"https://[::1]{CALLBACK}", False),
        (f"https://bot-api.kakao.com:99999{CALLBACK}", False),
        (f"ftp://bot-api.kakao.com{CALLBACK}", False),
    ],
    ids=[
        "kakao-https",
        "explicit-443",
        "plain-http",
        "other-port",
        "userinfo",
        "foreign-host",
        "suffix-trick",
        "loopback-literal",
        "private-literal",
        "link-local-metadata",
        "ipv6-loopback",
        "bad-port",
        "ftp",
    ],
)
def test_only_https_default_port_public_allowed_hosts(url: str, allowed: bool) -> None:
    assert CONFIG.callback_allowed(url) is allowed


def test_simulators_may_use_local_http_when_told() -> None:
    local = KakaoConfig(callback_hosts=("127.0.0.1",), allow_local=True)
    assert local.callback_allowed(f"http://127.0.0.1:9082{CALLBACK}")
    assert not local.callback_allowed(f"http://10.1.1.1:9082{CALLBACK}")  # hosts still apply


async def test_a_name_that_resolves_to_this_machine_is_never_called() -> None:
    now = datetime.now(UTC)
    channel = Kakao("bot", CONFIG, clock=lambda: now)
    url = f"https://localhost{CALLBACK}"
    assert CONFIG.callback_allowed(url)  # the name passes; its address does not
    assert not await CONFIG.callback_resolves_public(url)
    reply = OutboundReply(
        conversation_id="c",
        channel="kakao",
        account="bot",
        customer=Customer(id="T8x9DhjAiBrv"),
        text="안내드립니다",
        agent="auto",
        context={
            "kakao_callback_url": url,
            "kakao_callback_expires_at": (now + timedelta(seconds=50)).isoformat(),
        },
    )
    async with aiohttp.ClientSession() as http:
        with pytest.raises(PermanentError, match="private or local address"):
            await channel.send(reply, http)
