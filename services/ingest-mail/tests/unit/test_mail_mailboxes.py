"""The IMAP mailbox file (`INBOX_IMAP_ACCOUNTS`): what it accepts, what it refuses, and that
no error message or repr ever shows a password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inbox_ingest_mail.mailboxes import load_mailboxes, parse_mailboxes

YAML = """
mailboxes:
  - account: naver
    url: imaps://shop%40naver.com@imap.naver.com/INBOX
    password_env: NAVER_IMAP_PASSWORD
    name: 쇼핑몰 고객센터
    smtp_url_env: NAVER_SMTP_URL
  - account: daum
    host: imap.daum.net
    username: shop@daum.net
    password: s3cret-daum
    folder: 고객문의
    after_publish: move:처리완료
    initial: new
    idle: false
    poll_s: 30
"""


def test_yaml_file_with_url_and_field_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAVER_IMAP_PASSWORD", "s3cret-naver")
    monkeypatch.setenv("NAVER_SMTP_URL", "smtps://shop%40naver.com:pw@smtp.naver.com")
    path = tmp_path / "mailboxes.yaml"
    path.write_text(YAML, encoding="utf-8")

    naver, daum = load_mailboxes(path)

    assert (naver.account, naver.host, naver.port, naver.tls) == (
        "naver",
        "imap.naver.com",
        993,
        True,
    )
    assert (naver.username, naver.password, naver.folder) == (
        "shop@naver.com",
        "s3cret-naver",
        "INBOX",
    )
    assert naver.address == "shop@naver.com" and naver.name == "쇼핑몰 고객센터"
    assert naver.after_publish == "seen" and naver.initial == "unseen" and naver.idle
    assert naver.smtp_url == "smtps://shop%40naver.com:pw@smtp.naver.com"
    assert naver.cursor_key == "mail:naver:imap:INBOX"
    assert (daum.folder, daum.move_to, daum.initial, daum.idle, daum.poll_s) == (
        "고객문의", "처리완료", "new", False, 30.0
    )  # fmt: skip
    assert "s3cret" not in repr(naver) + repr(daum)


def test_json_list_is_accepted_too() -> None:
    [box] = parse_mailboxes(
        [{"account": "cs", "url": "imap://u:p@127.0.0.1:1143/INBOX", "address": "CS@Shop.Example"}]
    )
    assert (box.port, box.tls, box.password, box.address) == (1143, False, "p", "cs@shop.example")


def test_no_file_means_no_mailboxes() -> None:
    assert load_mailboxes(None) == []


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"url": "imaps://u:s3cret@h/INBOX"}, "account must match"),
        ({"account": "a.b", "url": "imaps://u:s3cret@h"}, "account must match"),
        ({"account": "cs", "url": "pop3://u:s3cret@h"}, "imaps:// or imap://"),
        ({"account": "cs", "host": "h", "username": "u"}, "password is missing"),
        ({"account": "cs", "url": "imaps://u@h", "password_env": "NOPE_UNSET"}, "NOPE_UNSET"),
        (
            {"account": "cs", "url": "imaps://u:s3cret@h", "after_publish": "delete"},
            "after_publish",
        ),
        ({"account": "cs", "url": "imaps://u:s3cret@h", "initial": "some"}, "initial"),
        ({"account": "cs", "url": "imaps://u:s3cret@h", "smtp_url": "http://x"}, "SMTP_RELAY_URL"),
    ],
    ids=[
        "no_account",
        "account_not_a_subject_token",
        "scheme",
        "no_password",
        "password_env_unset",
        "after_publish",
        "initial",
        "smtp_url_scheme",
    ],
)
def test_bad_entries_are_refused_by_name_without_secrets(entry: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error) as info:
        parse_mailboxes({"mailboxes": [entry]})
    assert "s3cret" not in str(info.value)
    assert "mailbox #1" in str(info.value) or "SMTP_RELAY_URL" in str(info.value)


def test_same_account_and_folder_twice_is_refused() -> None:
    entry = {"account": "cs", "url": "imaps://u:p@h/INBOX"}
    with pytest.raises(ValueError, match="listed twice"):
        parse_mailboxes({"mailboxes": [entry, entry]})


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_mailboxes(tmp_path / "missing.yaml")
