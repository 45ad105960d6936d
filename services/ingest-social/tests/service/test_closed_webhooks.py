"""Webhooks are closed by default, on the real bus and store: a channel whose secret is not
configured is not mounted (404, and the log and /healthz name the variable);
INBOX_INSECURE_WEBHOOKS=1 opens them with a warning, and then keeps no garbage from the
unauthenticated callers; TalkTalk's allow-list defaults to Naver's documented ranges."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from nats.js import JetStreamContext

from inbox_core.runtime import RUNTIME
from inbox_core.store import RAW
from inbox_ingest_social.simulators.kakao import build_skill_payload

NO_SECRETS = {
    "facebook_app_secret": None,
    "kakao_skill_token": None,
    "naver_talktalk_token": None,
    "naver_talktalk_allowed_ips": None,
}
WEBHOOKS = {
    "facebook": ("/webhooks/facebook", "FACEBOOK_APP_SECRET"),
    "instagram": ("/webhooks/instagram", "FACEBOOK_APP_SECRET"),
    "kakao": ("/webhooks/kakao", "KAKAO_SKILL_TOKEN"),
    "naver_talktalk": ("/webhooks/naver-talktalk", "NAVER_TALKTALK_TOKEN"),
}
TALK = {"event": "send", "user": "al-2eGuGr5WQOnco1_V-FQ", "textContent": {"text": "교환 되나요"}}


async def _count(js: JetStreamContext) -> int:
    return int((await asyncio.wait_for(js.stream_info("INBOUND"), 10)).state.messages)


async def test_webhooks_without_their_secret_are_not_mounted(
    start_service: Callable[..., Awaitable[Any]],
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    capfd: pytest.CaptureFixture[str],
) -> None:
    service = await start_service(**NO_SECRETS)
    logged = capfd.readouterr()
    log = logged.out + logged.err
    kakao = json.dumps(build_skill_payload("환불 문의")).encode()
    for name, (path, variable) in WEBHOOKS.items():
        body = json.dumps(TALK).encode() if name == "naver_talktalk" else kakao
        async with http.post(f"{service.url}{path}", data=body) as resp:
            assert resp.status == 404, name
        async with http.get(f"{service.url}{path}") as resp:
            assert resp.status == 404, name
        assert f"{path} is closed (404): set {variable}" in log
    assert "INBOX_INSECURE_WEBHOOKS" not in log
    async with http.get(f"{service.url}/healthz") as resp:
        checks = (await resp.json())["checks"]
    assert checks["kakao"]["webhook"] == "closed: KAKAO_SKILL_TOKEN not set"
    assert checks["meta"]["webhook"] == "closed: FACEBOOK_APP_SECRET not set"
    assert await _count(js) == 0
    raw = service.app[RUNTIME].store.db[RAW]
    assert await asyncio.wait_for(raw.count_documents({}), 10) == 0


async def test_insecure_flag_opens_them_with_a_warning_and_keeps_no_garbage(
    start_service: Callable[..., Awaitable[Any]],
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    capfd: pytest.CaptureFixture[str],
) -> None:
    service = await start_service(**NO_SECRETS, insecure_webhooks=True)
    logged = capfd.readouterr()
    assert "INBOX_INSECURE_WEBHOOKS=1" in logged.out + logged.err
    kakao = json.dumps(build_skill_payload("환불 문의드려요")).encode()
    async with http.post(f"{service.url}/webhooks/kakao", data=kakao) as resp:
        assert resp.status == 200  # no token asked
    async with http.post(
        f"{service.url}/webhooks/naver-talktalk", data=json.dumps(TALK).encode()
    ) as resp:
        assert resp.status == 200  # no allow-list configured: any address
    assert await _count(js) == 2
    # Garbage from callers nobody authenticated is refused and not kept.
    for path in ("/webhooks/kakao", "/webhooks/facebook", "/webhooks/naver-talktalk"):
        async with http.post(f"{service.url}{path}", data=b"\x00garbage{") as resp:
            assert resp.status == 400, path
    raw = service.app[RUNTIME].store.db[RAW]
    assert await asyncio.wait_for(raw.count_documents({}), 10) == 0
    assert await _count(js) == 2
    async with http.get(f"{service.url}/healthz") as resp:
        checks = (await resp.json())["checks"]
    assert checks["kakao"]["webhook"] == "open without a secret (insecure)"


async def test_talktalk_allow_list_defaults_to_naver_s_ranges(
    start_service: Callable[..., Awaitable[Any]],
    js: JetStreamContext,
    http: aiohttp.ClientSession,
) -> None:
    # The token is set, the allow-list is not: only Naver's addresses may call.
    service = await start_service(naver_talktalk_allowed_ips=None)
    async with http.post(
        f"{service.url}/webhooks/naver-talktalk", data=json.dumps(TALK).encode()
    ) as resp:
        assert resp.status == 403
    assert await _count(js) == 0
    async with http.get(f"{service.url}/healthz") as resp:
        assert (await resp.json())["checks"]["naver_talktalk"]["allowed_networks"] == 3


async def test_garbage_from_callers_who_fail_authentication_is_never_kept(
    start_service: Callable[..., Awaitable[Any]],
    js: JetStreamContext,
    http: aiohttp.ClientSession,
) -> None:
    # Every secret set; TalkTalk left to Naver's ranges, which this machine is not in.
    service = await start_service(naver_talktalk_allowed_ips=None)
    garbage = b"\x00\xffnot json{"
    for path, headers, status in (
        ("/webhooks/facebook", {"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
        ("/webhooks/instagram", {}, 401),
        ("/webhooks/kakao", {"X-Skill-Token": "guess"}, 401),
        ("/webhooks/kakao", {}, 401),
        ("/webhooks/naver-talktalk", {}, 403),
    ):
        async with http.post(f"{service.url}{path}", data=garbage, headers=headers) as resp:
            assert resp.status == status, path
    raw = service.app[RUNTIME].store.db[RAW]
    assert await asyncio.wait_for(raw.count_documents({}), 10) == 0
    assert await _count(js) == 0
