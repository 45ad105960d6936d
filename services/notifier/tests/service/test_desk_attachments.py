"""Files in replies over HTTP against the real bus and store: uploads typed by their bytes,
a reply that carries them to the connector, and channels that cannot carry files refused
before anything is stored or sent."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from inbox_core import subjects
from inbox_core.schema import OutboundReply
from inbox_core.testing.http import collect

from .conftest import auth

NotifierHarness = Any  # the `notifier` fixture (conftest.py)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(300)  # a Windows executable


async def upload(
    n: NotifierHarness, data: bytes, name: str, declared: str = "image/png"
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=declared)
    async with n.http.post(f"{n.url}/api/attachments", data=form, headers=auth()) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (PNG, "사이즈표.png", "image/png"),
        (PROGRAM, "사이즈표.png", "application/octet-stream"),
        (b"%PDF-1.7\n" + bytes(100), "반품신청서.pdf", "application/pdf"),
        ("주문번호,수량\n1,2\n".encode(), "주문.csv", "text/csv"),
    ],
    ids=["png", "program_named_png", "pdf", "korean_csv"],
)
async def test_upload_is_typed_by_its_bytes_not_its_name(
    notifier: NotifierHarness, data: bytes, name: str, content_type: str
) -> None:
    status, body = await upload(notifier, data, name)
    assert status == 201, body
    assert body["name"] == name and body["size"] == len(data)
    assert body["content_type"] == content_type
    assert body["ref"].startswith("gridfs:")
    async with notifier.http.get(
        f"{notifier.url}/api/attachments/{body['ref']}", headers=auth()
    ) as r:
        assert r.status == 200 and await r.read() == data


async def test_upload_over_10_mb_or_without_a_file_is_refused(notifier: NotifierHarness) -> None:
    status, body = await upload(notifier, b"x" * (10 * 1024 * 1024 + 1), "big.bin")
    assert status == 413 and body["code"] == "too_large"
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", "no file here")
    async with notifier.http.post(
        f"{notifier.url}/api/attachments", data=form, headers=auth()
    ) as r:
        assert r.status == 422 and (await r.json())["errors"][0]["field"] == "file"
    status, body = await notifier.post("/api/attachments", {"file": "not multipart"})
    assert status == 400 and body["code"] == "not_multipart"


async def test_reply_with_a_file_carries_it_to_the_connector(notifier: NotifierHarness) -> None:
    await notifier.publish(notifier.routed(1, "c1"))
    await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    _, file = await upload(notifier, PNG, "사이즈표.png")
    status, body = await notifier.post(
        "/api/conversations/c1/reply",
        {"text": "사이즈표 보내드립니다.", "attachments": [file["ref"]]},
    )
    assert status == 201, body
    [shown] = body["message"]["attachments"]
    assert shown["name"] == "사이즈표.png" and shown["content_type"] == "image/png"
    assert shown["url"] == f"/api/attachments/{file['ref']}"
    [out] = await collect(notifier.bus.js, "inbox.out.mail.cs", 1)
    reply = OutboundReply.from_json(out.data)
    assert [(a.name, a.ref, a.size) for a in reply.attachments] == [
        ("사이즈표.png", file["ref"], len(PNG))
    ]


@pytest.mark.parametrize(
    ("channel", "attachment"),
    [
        ("naver_commerce", "png"),
        ("coupang", "png"),
        ("kakao", "png"),
        ("instagram", "pdf"),
        ("naver_talktalk", "png"),
    ],
    ids=["smartstore", "coupang", "kakao", "instagram_pdf", "talktalk_without_public_url"],
)
async def test_reply_with_a_file_on_a_channel_that_cannot_carry_it_is_422_and_not_sent(
    notifier: NotifierHarness, channel: str, attachment: str
) -> None:
    await notifier.publish(notifier.routed(1, "c1", channel=channel, account="shop"))
    await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    data, name = (PNG, "a.png") if attachment == "png" else (b"%PDF-1.4\n", "a.pdf")
    _, file = await upload(notifier, data, name)
    status, body = await notifier.post(
        "/api/conversations/c1/reply", {"text": "파일 첨부", "attachments": [file["ref"]]}
    )
    assert status == 422 and body["code"] == "attachments_not_supported", body
    detail = await notifier.get("/api/conversations/c1")
    assert [m["direction"] for m in detail["messages"]] == ["in"]  # nothing stored
    info = await notifier.bus.js.stream_info(subjects.STREAM_OUTBOUND)
    assert info.state.messages == 0  # nothing sent


async def test_reply_naming_an_unknown_file_is_422(notifier: NotifierHarness) -> None:
    await notifier.publish(notifier.routed(1, "c1"))
    await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    status, body = await notifier.post(
        "/api/conversations/c1/reply",
        {"text": "첨부", "attachments": ["gridfs:" + "0" * 64]},
    )
    assert status == 422 and body["code"] == "unknown_attachment"


@pytest.fixture
def public_url(notifier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """INBOX_PUBLIC_URL for the notifier about to start (request it before `notifier`)."""
    url = "https://inbox.shop.example"
    monkeypatch.setenv("INBOX_PUBLIC_URL", url)
    return url


async def test_talktalk_reply_image_gets_a_public_link_that_only_serves_that_file(
    public_url: str, notifier: NotifierHarness
) -> None:
    routed = notifier.routed(1, "c1", channel="naver_talktalk", account="talktalk")
    await notifier.publish(routed)
    await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    _, file = await upload(notifier, PNG, "사이즈표.png")
    status, body = await notifier.post(
        "/api/conversations/c1/reply", {"text": "사이즈표입니다.", "attachments": [file["ref"]]}
    )
    assert status == 201, body
    [out] = await collect(notifier.bus.js, "inbox.out.naver_talktalk.talktalk", 1)
    [attachment] = OutboundReply.from_json(out.data).attachments
    assert attachment.url and attachment.url.startswith(f"{public_url}/files/")
    path = attachment.url.removeprefix(public_url)
    async with notifier.http.get(f"{notifier.url}{path}") as r:  # no agent token: the platform
        assert r.status == 200 and await r.read() == PNG
        assert r.headers["Content-Type"] == "image/png"
    forged = path[:-4] + ("0000" if not path.endswith("0000") else "1111")
    async with notifier.http.get(f"{notifier.url}{forged}") as r:
        assert r.status == 404
