"""IMAP in, against a real dovecot, a real nats-server and the real store: a mail filed in
the mailbox lands on the bus with its raw bytes kept, and is marked seen (or moved) only
after its PubAck; IDLE wakes the poller; UIDVALIDITY, restarts and bad passwords are
handled the way the README says."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from inbox_core.blobs import get_blob
from inbox_core.schema import InboundMessage

TIMEOUT = 15.0


def korean_mail(message_id: str, subject: str = "배송 문의드립니다") -> bytes:
    message = EmailMessage()
    message["From"] = "홍길동 <hong@naver.com>"
    message["To"] = "shop@naver.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("주문한 운동화가 아직 안 왔어요.\n확인 부탁드립니다.")
    message.add_attachment("주문번호,20250305-1\n".encode(), "text", "csv", filename="주문.csv")
    return message.as_bytes()


def accounts_file(tmp_path: Path, user: Any, **options: Any) -> str:
    entry = {
        "account": "naver",
        "url": f"imap://{user.host}:{user.port}/INBOX",
        "username": user.username,
        "password_env": "TEST_IMAP_PASSWORD",
        "address": "shop@naver.example",
        **options,
    }
    path = tmp_path / "mailboxes.json"
    path.write_text(json.dumps({"mailboxes": [entry]}), encoding="utf-8")
    return str(path)


@pytest.fixture
async def start_imap(start_mail: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    async def start(user: Any, env: dict[str, str] | None = None, **options: Any) -> Any:
        monkeypatch.setenv("TEST_IMAP_PASSWORD", user.password)
        return await start_mail(
            INBOX_IMAP_ACCOUNTS=accounts_file(tmp_path, user, **options),
            INBOX_IMAP_BACKOFF_MAX_S="1",
            **(env or {}),
        )

    return start


async def published(bus_reader: Any, poll: Any, count: int = 1) -> list[InboundMessage]:
    async def messages() -> list[Any]:
        found = await bus_reader.messages("INBOUND", "inbox.in.mail.naver")
        return found if len(found) >= count else []

    return [InboundMessage.from_json(m.data) for m in await poll(messages, f"{count} mail(s)")]


async def health(service: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{service.http_url}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp,
    ):
        body: dict[str, Any] = await resp.json()
        body["status_code"] = resp.status
        return body


async def cursor(core_env: dict[str, str]) -> dict[str, Any] | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(core_env["MONGODB_URL"])
    try:
        doc = await client[core_env["INBOX_MONGODB_DB"]]["cursors"].find_one(
            {"_id": "mail:naver:imap:INBOX"}
        )
        return None if doc is None else dict(doc["state"])
    finally:
        await client.close()


async def test_mail_in_the_mailbox_is_published_kept_and_then_marked_seen(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any, core_env: dict[str, str]
) -> None:
    raw = korean_mail("imap-1@naver.com")
    await imap_user.append(raw)

    await start_imap(imap_user)

    [message] = await published(bus_reader, poll)
    assert message.subject == "배송 문의드립니다" and message.customer.email == "hong@naver.com"
    assert message.context["source"] == "imap"
    assert message.context["recipient"] == "shop@naver.example"
    [attachment] = message.attachments
    assert attachment.name == "주문.csv" and attachment.ref is not None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(core_env["MONGODB_URL"])
    try:
        db = client[core_env["INBOX_MONGODB_DB"]]
        assert message.raw_ref is not None
        kept, _, content_type = await asyncio.wait_for(get_blob(db, message.raw_ref), TIMEOUT)
        assert kept.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        assert content_type == "message/rfc822"
        data, name, _ = await asyncio.wait_for(get_blob(db, attachment.ref), TIMEOUT)
        assert (data, name) == ("주문번호,20250305-1\n".encode(), "주문.csv")
    finally:
        await client.close()

    async def seen() -> bool:
        return "\\Seen" in (await imap_user.flags()).get(1, "")

    await poll(seen, "the mail to be marked seen")
    state = await poll(lambda: cursor(core_env), "the cursor")
    assert state["last_uid"] == 1 and state["uidvalidity"] > 0


async def test_idle_delivers_new_mail_without_waiting_for_a_poll(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any
) -> None:
    service = await start_imap(imap_user, env={"INBOX_IMAP_POLL_S": "3600"})

    async def idling() -> bool:
        return bool((await health(service))["checks"]["imap"]["naver"]["idle"])

    await poll(idling, "the poller to idle")
    await imap_user.append(korean_mail("idle-1@naver.com", "IDLE 문의"))

    [message] = await published(bus_reader, poll)
    assert message.subject == "IDLE 문의"


async def test_polling_mode_without_idle_delivers_too(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any
) -> None:
    service = await start_imap(imap_user, env={"INBOX_IMAP_POLL_S": "0.2"}, idle=False)
    await imap_user.append(korean_mail("poll-1@naver.com"))

    [message] = await published(bus_reader, poll)
    assert message.external_id == "poll-1@naver.com"
    assert (await health(service))["checks"]["imap"]["naver"]["idle"] is False


async def test_mail_stays_unseen_and_the_cursor_unmoved_while_the_bus_is_down(
    imap_user: Any,
    start_imap: Any,
    bus_reader: Any,
    poll: Any,
    nats_server: Any,
    core_env: dict[str, str],
) -> None:
    service = await start_imap(imap_user)
    await imap_user.append(korean_mail("first@naver.com"))
    await published(bus_reader, poll)
    nats_server.process.kill()

    await imap_user.append(korean_mail("during-outage@naver.com"))

    async def failed() -> bool:
        status = (await health(service))["checks"]["imap"]["naver"]
        return bool(status["last_error"])

    await poll(failed, "the poller to fail on the dead bus", timeout=30)
    assert "\\Seen" not in (await imap_user.flags()).get(2, "")
    assert (await cursor(core_env) or {}).get("last_uid") == 1

    await asyncio.to_thread(nats_server.restart)

    messages = await published(bus_reader, poll, count=2)
    assert [m.external_id for m in messages] == ["first@naver.com", "during-outage@naver.com"]

    async def seen() -> bool:
        return "\\Seen" in (await imap_user.flags()).get(2, "")

    await poll(seen, "the second mail to be marked seen", timeout=30)


async def test_changed_uidvalidity_reads_the_folder_again(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any, core_env: dict[str, str]
) -> None:
    await imap_user.append(korean_mail("renumbered@naver.com"))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(core_env["MONGODB_URL"])
    try:  # a cursor from before the server renumbered the folder
        await client[core_env["INBOX_MONGODB_DB"]]["cursors"].insert_one(
            {"_id": "mail:naver:imap:INBOX", "state": {"uidvalidity": 1, "last_uid": 999}}
        )
    finally:
        await client.close()

    await start_imap(imap_user)

    [message] = await published(bus_reader, poll)
    assert message.external_id == "renumbered@naver.com"
    state = await poll(lambda: cursor(core_env), "the cursor")
    assert state["uidvalidity"] != 1 and state["last_uid"] == 1


async def test_mail_is_moved_after_publish_when_configured(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any
) -> None:
    await imap_user.create_folder("Processed")
    await imap_user.append(korean_mail("move-1@naver.com"))

    await start_imap(imap_user, after_publish="move:Processed")

    await published(bus_reader, poll)

    async def moved() -> bool:
        return not await imap_user.flags("INBOX") and len(await imap_user.flags("Processed")) == 1

    await poll(moved, "the mail to be moved")


async def test_initial_new_skips_the_mail_already_there(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any
) -> None:
    await imap_user.append(korean_mail("old@naver.com"))
    service = await start_imap(imap_user, initial="new")

    async def synced() -> bool:
        return bool((await health(service))["checks"]["imap"]["naver"]["last_sync"])

    await poll(synced, "the first sync")
    await imap_user.append(korean_mail("new@naver.com"))

    [message] = await published(bus_reader, poll)
    assert message.external_id == "new@naver.com"


async def test_mail_already_read_at_the_first_start_is_never_published(
    imap_user: Any, start_imap: Any, bus_reader: Any, poll: Any
) -> None:
    await imap_user.append(korean_mail("unread-1@naver.com"))
    await imap_user.append(korean_mail("read-2@naver.com"), flags="\\Seen")
    await start_imap(imap_user)  # initial "unseen": the unread mail only
    [first] = await published(bus_reader, poll)

    await imap_user.append(korean_mail("new-3@naver.com"))

    messages = await published(bus_reader, poll, count=2)
    assert [m.external_id for m in messages] == [first.external_id, "new-3@naver.com"]
    assert first.external_id == "unread-1@naver.com"


async def test_wrong_password_marks_the_mailbox_unhealthy_not_the_service(
    imap_user: Any, start_imap: Any, poll: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap_user.password = "wrong"
    service = await start_imap(imap_user)

    async def auth_failed() -> dict[str, Any] | None:
        body = await health(service)
        return body if body["checks"]["imap"]["naver"]["auth_failed"] else None

    body = await poll(auth_failed, "the login to fail")
    assert body["status_code"] == 200  # bus and store are fine; the mailbox shows the problem
    assert "login refused" in body["checks"]["imap"]["naver"]["last_error"]


async def test_poller_reconnects_after_the_server_restarts(
    own_dovecot: Any, start_imap: Any, bus_reader: Any, poll: Any
) -> None:
    user = own_dovecot.add_user()
    service = await start_imap(user)
    await user.append(korean_mail("before@naver.com"))
    await published(bus_reader, poll)

    await asyncio.to_thread(own_dovecot.stop)
    await asyncio.to_thread(own_dovecot.start)
    await user.append(korean_mail("after@naver.com"))

    messages = await published(bus_reader, poll, count=2)
    assert messages[-1].external_id == "after@naver.com"
    assert (await health(service))["checks"]["imap"]["naver"]["reconnects"] >= 1
