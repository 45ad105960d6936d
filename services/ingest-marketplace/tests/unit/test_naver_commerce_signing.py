"""Our client_secret_sign against the simulator's check (the one Naver documents)."""

from __future__ import annotations

import base64
import time

import bcrypt
import pytest

from inbox_core.errors import AuthError
from inbox_ingest_marketplace.channels.naver_auth import client_secret_sign
from inbox_ingest_marketplace.simulators.naver_commerce import (
    timestamp_fresh,
    verify_client_secret_sign,
)

CLIENT_ID = "7dMvteboKNHwyRremLXXXX"
SECRET = bcrypt.gensalt(rounds=4, prefix=b"2a").decode()
OTHER_SECRET = bcrypt.gensalt(rounds=4, prefix=b"2a").decode()
TIMESTAMP = "1706671059230"


def test_our_sign_is_accepted_by_the_simulator_check() -> None:
    sign = client_secret_sign(CLIENT_ID, SECRET, TIMESTAMP)

    assert verify_client_secret_sign(CLIENT_ID, SECRET, TIMESTAMP, sign)
    # What Naver specifies, spelled out: base64 of the bcrypt hash of "<id>_<ts>".
    hashed = base64.b64decode(sign)
    assert hashed.startswith(SECRET.encode())
    assert bcrypt.checkpw(f"{CLIENT_ID}_{TIMESTAMP}".encode(), hashed)


def test_url_safe_base64_sign_is_accepted() -> None:
    hashed = bcrypt.hashpw(f"{CLIENT_ID}_{TIMESTAMP}".encode(), SECRET.encode())
    sign = base64.urlsafe_b64encode(hashed).decode().rstrip("=")

    assert verify_client_secret_sign(CLIENT_ID, SECRET, TIMESTAMP, sign)


def _tamper(sign: str) -> str:
    hashed = bytearray(base64.b64decode(sign))
    hashed[-1] = ord("A") if hashed[-1] != ord("A") else ord("B")
    return base64.b64encode(bytes(hashed)).decode()


@pytest.mark.parametrize(
    ("client_id", "timestamp", "sign"),
    [
        (CLIENT_ID, TIMESTAMP, _tamper(client_secret_sign(CLIENT_ID, SECRET, TIMESTAMP))),
        (CLIENT_ID, "1706671059231", client_secret_sign(CLIENT_ID, SECRET, TIMESTAMP)),
        ("someone-else", TIMESTAMP, client_secret_sign(CLIENT_ID, SECRET, TIMESTAMP)),
        # bcrypt.checkpw alone would accept this one: it re-hashes with the hash's own salt.
        (CLIENT_ID, TIMESTAMP, client_secret_sign(CLIENT_ID, OTHER_SECRET, TIMESTAMP)),
        (CLIENT_ID, TIMESTAMP, "not base64 at all!"),
        (CLIENT_ID, TIMESTAMP, ""),
    ],
    ids=["tampered", "other-timestamp", "other-client-id", "other-secret", "garbage", "empty"],
)
def test_simulator_refuses_a_bad_sign(client_id: str, timestamp: str, sign: str) -> None:
    assert not verify_client_secret_sign(client_id, SECRET, timestamp, sign)


@pytest.mark.parametrize(
    ("age_s", "fresh"),
    [(0, True), (299, True), (-299, True), (301, False), (-301, False), (3600, False)],
    ids=["now", "almost-5-min-old", "almost-5-min-ahead", "stale", "too-far-ahead", "hour-old"],
)
def test_timestamp_is_valid_for_five_minutes(age_s: int, fresh: bool) -> None:
    now = time.time()
    stamp = str(int((now - age_s) * 1000))

    assert timestamp_fresh(stamp, now) is fresh


def test_timestamp_in_seconds_instead_of_milliseconds_is_stale() -> None:
    now = time.time()

    assert not timestamp_fresh(str(int(now)), now)
    assert not timestamp_fresh("", now)
    assert not timestamp_fresh("12.5", now)


def test_secret_that_is_no_bcrypt_salt_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="bcrypt salt"):
        client_secret_sign(CLIENT_ID, "plain-secret", TIMESTAMP)
