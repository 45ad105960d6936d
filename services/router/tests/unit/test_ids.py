"""Minted ids stay what they were: customers and conversations already stored carry them."""

from __future__ import annotations

import uuid

from inbox_router.ids import uuid5_hex

NAMES = ["", "customer:kakao:shop:user-1", "conversation:mail:cs:<a@b>", "배송 문의 😀", "x" * 500]


def test_minted_ids_are_uuid5s() -> None:
    for namespace in (uuid.NAMESPACE_DNS, uuid.UUID("6f1c3a52-3f5e-4d43-9a53-2b8f7d0c9e11")):
        for name in NAMES + [f"customer:facebook:page:psid-{i}" for i in range(2000)]:
            assert uuid5_hex(namespace, name) == uuid.uuid5(namespace, name).hex, name
