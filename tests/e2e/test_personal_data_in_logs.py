"""Personal data a customer sends never reaches the logs: a whole stack logs at DEBUG while
a Messenger message, a mail and an unreadable webhook carry a phone number, a 주민등록번호
and an e-mail address, and an agent searches for the phone number; then every log file of
every process is read."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage

import aiohttp
import aiosmtplib

from inbox_core.testing.stack import TOKEN, StackHarness, running_stack

PHONE = "010-4827-1936"
PHONE_DIGITS = "01048271936"
RRN = "850612-1234567"
EMAIL = "minsu.private@example.com"
TEXT = f"연락처 {PHONE} / {PHONE_DIGITS}, 주민번호 {RRN}, 메일 {EMAIL} 로 연락 주세요"


def _messenger(tag: str, text: str) -> bytes:
    body = json.loads(StackHarness.webhook_body(tag))
    body["entry"][0]["messaging"][0]["message"]["text"] = text
    return json.dumps(body, ensure_ascii=False).encode()


async def test_phone_rrn_and_email_never_reach_the_logs() -> None:
    async with running_stack(
        {"INBOX_LOG_LEVEL": "DEBUG", "INBOX_MAIL_DOMAINS": "shop.example"}
    ) as h:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as http:
            await h.deliver(http, _messenger("pii1", TEXT))
            # Unreadable JSON with a good signature: answered 400, kept raw, logged.
            broken = b'{"object": "page", "entry": [' + TEXT.encode()
            async with http.post(
                h.webhook,
                data=broken,
                headers={"X-Hub-Signature-256": h.sign(broken)},
            ) as resp:
                assert resp.status == 400
            mail = EmailMessage()
            mail["From"] = f"김민수 <{EMAIL}>"
            mail["To"] = "cs@shop.example"
            mail["Subject"] = f"전화 {PHONE} 로 주세요"
            mail["Message-ID"] = "<pii-mail-1@example.com>"
            mail.set_content(TEXT)
            await aiosmtplib.send(
                mail, hostname="127.0.0.1", port=int(h.env["INBOX_SMTP_PORT"]), timeout=10
            )
            stored = await h.wait_stored(["m_pii1", "pii-mail-1@example.com"])
            assert {"m_pii1", "pii-mail-1@example.com"} <= set(stored)
            async with http.get(
                f"{h.api}/api/conversations", params={"q": PHONE}, headers=auth
            ) as resp:
                assert resp.status == 200
                assert (await resp.json())["items"], "the search found the conversation"
        await asyncio.sleep(1.0)  # let the last lines reach the files
        logs = {p.name: p.read_text(errors="replace") for p in h.stack.log_dir.glob("*.log")}
    service_logs = {
        n: t for n, t in logs.items() if n.startswith(("ingest-", "router", "notifier"))
    }
    assert len(service_logs) == 5 and all(service_logs.values()), "every service logged"
    everything = "\n".join(logs.values())
    leaks = [v for v in (PHONE, PHONE_DIGITS, RRN, EMAIL, "4827-1936") if v in everything]
    assert not leaks, f"personal data in the logs: {leaks}"
    # The unreadable webhook was logged, with its personal data masked.
    assert "[phone]" in everything or "[rrn]" in everything or "[email]" in everything
