"""Coupang's CEA signature against vectors computed with `openssl dgst -sha256 -hmac` from the
documented algorithm, and the simulator's check of it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox_ingest_marketplace.channels.coupang_signing import (
    authorization,
    build_query,
    signature,
    signed_date,
)
from inbox_ingest_marketplace.simulators.coupang import expected_signature

SECRET = "sk-test-a1b2c3d4e5f6"
NOW = datetime(2026, 11, 20, 6, 12, 3, tzinfo=UTC)
LIST_PATH = "/v2/providers/openapi/apis/api/v5/vendors/A00010028/onlineInquiries"
LIST_QUERY = (
    "vendorId=A00010028&answeredType=ALL&inquiryStartAt=2026-11-14"
    "&inquiryEndAt=2026-11-20&pageNum=1&pageSize=50"
)
REPLY_PATH = "/v2/providers/openapi/apis/api/v4/vendors/A00010028/onlineInquiries/846/replies"
# printf '%s' '261120T061203ZGET<path><query>' | openssl dgst -sha256 -hmac "$SECRET"
LIST_SIGNATURE = "8b80fc401df15a38c2d27cf225b08968ba88db039e9b279a16f7bdf0dea8e8a0"
REPLY_SIGNATURE = "85af1493db2c11a34ef1b9f3afc15f2467c2e1e8fdc4b8b775e3c5ff070de36b"


def test_signed_date_is_utc_in_the_documented_format() -> None:
    kst = datetime.fromisoformat("2026-11-20T15:12:03+09:00")

    assert signed_date(NOW) == "261120T061203Z"
    assert signed_date(kst) == "261120T061203Z"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [("GET", LIST_PATH, LIST_QUERY, LIST_SIGNATURE), ("POST", REPLY_PATH, "", REPLY_SIGNATURE)],
    ids=["get-with-query", "post-without-query"],
)
def test_signature_matches_the_known_vector(
    method: str, path: str, query: str, expected: str
) -> None:
    assert signature(SECRET, "261120T061203Z", method, path, query) == expected


def test_authorization_header_has_the_documented_shape() -> None:
    header = authorization("ak-test", SECRET, "GET", LIST_PATH, LIST_QUERY, NOW)

    assert header == (
        "CEA algorithm=HmacSHA256, access-key=ak-test, "
        f"signed-date=261120T061203Z, signature={LIST_SIGNATURE}"
    )


def test_query_is_built_once_in_the_given_order() -> None:
    params = [
        ("vendorId", "A00010028"),
        ("answeredType", "ALL"),
        ("inquiryStartAt", "2026-11-14"),
        ("inquiryEndAt", "2026-11-20"),
        ("pageNum", "1"),
        ("pageSize", "50"),
    ]

    assert build_query(params) == LIST_QUERY


def test_simulator_recomputes_the_same_signature_from_the_raw_path() -> None:
    assert (
        expected_signature(SECRET, "261120T061203Z", "GET", f"{LIST_PATH}?{LIST_QUERY}")
        == LIST_SIGNATURE
    )


@pytest.mark.parametrize(
    ("method", "raw_path"),
    [
        ("POST", f"{LIST_PATH}?{LIST_QUERY}"),
        ("GET", f"{LIST_PATH}?{LIST_QUERY.replace('pageNum=1', 'pageNum=2')}"),
        ("GET", f"{LIST_PATH}?{LIST_QUERY.replace('vendorId=A00010028&', '')}&vendorId=A00010028"),
        ("GET", LIST_PATH.replace("A00010028", "A00010029") + f"?{LIST_QUERY}"),
    ],
    ids=["other-method", "other-query", "reordered-query", "other-vendor-path"],
)
def test_any_change_to_the_request_breaks_the_signature(method: str, raw_path: str) -> None:
    assert expected_signature(SECRET, "261120T061203Z", method, raw_path) != LIST_SIGNATURE
