"""No credential in any log: the whole stack (`inbox-stack`) starts against a NATS server and
a store that want a password, given in NATS_URL and MONGODB_URL on a host name without a dot
(as docker's `nats` and `mongo` are), with a password in SMTP_RELAY_URL too, logging at DEBUG;
a customer message goes through; then the launcher's output and every service's log are read."""

from __future__ import annotations

import json
import shutil
import smtplib
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from inbox_core.embedded import free_port, mongo_url, start_mongo, start_nats

pytestmark = pytest.mark.e2e

NATS_PW = "nats-pw-7Qx2"
MONGO_PW = "mongo-pw-9Lk4"
SMTP_PW = "smtp-pw-3Vb8"
AUTH = {"Authorization": "Bearer e2e-agent-token"}  # conftest.TOKEN


@pytest.fixture(scope="module")
def stack_env() -> Iterator[dict[str, str]]:
    """NATS and the store, both asking for a password; the stack gets them in its URLs."""
    tmp = Path(tempfile.mkdtemp(prefix="inbox-e2e-creds-"))
    nats_port, mongo_port = free_port(), free_port()
    nats = start_nats(
        tmp / "nats", nats_port, log_dir=tmp, extra_args=["--user", "inbox", "--pass", NATS_PW]
    )
    store = start_mongo(tmp / "store", mongo_port, log_dir=tmp)
    try:
        with MongoClient(mongo_url(mongo_port), serverSelectionTimeoutMS=10_000) as client:
            client.admin.command("createUser", "inbox", pwd=MONGO_PW, roles=["root"])
        yield {
            "NATS_URL": f"nats://inbox:{NATS_PW}@localhost:{nats_port}",
            "MONGODB_URL": (
                f"mongodb://inbox:{MONGO_PW}@localhost:{mongo_port}"
                "/?directConnection=true&authSource=admin"
            ),
            "SMTP_RELAY_URL": f"smtp://relay:{SMTP_PW}@localhost:{free_port()}",
            "INBOX_LOG_LEVEL": "DEBUG",
        }
    finally:
        store.stop()
        nats.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_no_password_in_any_log(stack: Any) -> None:
    # The stack works with the credentials: a mail goes in and is listed by the API.
    mail = EmailMessage()
    mail["From"] = "김민수 <minsu@example.com>"
    mail["To"] = "cs@shop.example"
    mail["Subject"] = "비밀번호 로그 확인"
    mail["Message-ID"] = "<creds-1@example.com>"
    mail.set_content("배송 문의드립니다.")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{stack.api}/api/conversations", headers=AUTH)
        with urllib.request.urlopen(request, timeout=10) as resp:
            if json.loads(resp.read())["items"]:
                break
        time.sleep(0.5)
    else:
        pytest.fail("the mail never reached the queue")
    time.sleep(1.0)  # let the last lines reach the files
    logs = {"stack.out": stack.log.read_text(errors="replace")}
    for path in (stack.data_dir / "var" / "logs").glob("*.log"):
        logs[path.name] = path.read_text(errors="replace")
    assert {"notifier.log", "router.log", "ingest-mail.log"} <= set(logs)
    leaks = {
        name: secret
        for name, text in logs.items()
        for secret in (NATS_PW, MONGO_PW, SMTP_PW)
        if secret in text
    }
    assert not leaks, f"credentials in the logs: {leaks}"
    # The URLs were logged, masked: the launcher's list and each service's start line.
    assert "nats://***@localhost" in logs["stack.out"]
    assert "mongodb://***@localhost" in logs["stack.out"]
    assert "nats://***@localhost" in logs["notifier.log"]
