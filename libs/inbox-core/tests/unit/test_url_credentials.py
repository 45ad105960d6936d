"""Credentials in URLs never reach a log line or an error, whatever the host looks like
(`nats` in docker has no dot, so an e-mail pattern does not catch it)."""

from __future__ import annotations

import asyncio

import pytest

from inbox_core.embedded import free_port
from inbox_core.errors import TransientError
from inbox_core.logging import _mask
from inbox_core.masking import mask_pii, mask_url_credentials
from inbox_core.settings import CoreSettings
from inbox_core.store import Store


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("nats://inbox:s3cret@nats:4222", "nats://***@nats:4222"),
        (
            "mongodb://u:s3cret@mongo:27017/?authSource=admin",
            "mongodb://***@mongo:27017/?authSource=admin",
        ),
        ("mongodb://u:s3c@ret@m1,m2/db", "mongodb://***@m1,m2/db"),
        ("nats://a:4222,nats://u:s3cret@b:4222", "nats://a:4222,nats://***@b:4222"),
        ("smtps://relay:s3cret@smtp.example.com:465", "smtps://***@smtp.example.com:465"),
        (
            "connect to NATS_URL=nats://token-only@localhost",
            "connect to NATS_URL=nats://***@localhost",
        ),
        (
            "https://shop.example/qna?from=kim@example.com",
            "https://shop.example/qna?from=kim@example.com",
        ),
    ],
    ids=[
        "docker-host",
        "mongo",
        "raw-at-in-password",
        "cluster-list",
        "dotted-host",
        "token-only",
        "no-userinfo",
    ],
)
def test_userinfo_of_every_url_is_masked(text: str, masked: str) -> None:
    assert mask_url_credentials(text) == masked
    assert "s3c" not in mask_pii(text)


def test_log_lines_mask_urls_in_every_field() -> None:
    line = _mask(None, "info", {"event": "runtime started", "nats": "nats://u:s3cret@nats:4222"})
    assert line == {"event": "runtime started", "nats": "nats://***@nats:4222"}


async def test_store_errors_never_show_the_password() -> None:
    port = free_port()  # nothing listens there
    settings = CoreSettings(
        mongodb_url=f"mongodb://inbox:s3cret-mongo@localhost:{port}/?directConnection=true",
    )
    store = Store(settings)
    try:
        with pytest.raises(TransientError) as err:
            await asyncio.wait_for(store.wait_ready(timeout=0.5), 20)
    finally:
        await store.close()
    assert "s3cret" not in str(err.value) and "***@localhost" in str(err.value)
