"""The TalkTalk IP allow-list: which peer addresses may call the webhook."""

from __future__ import annotations

import ipaddress

import pytest

from inbox_ingest_social.webhook_guard import peer_allowed

NAVER = [
    ipaddress.ip_network(n)
    for n in ("211.249.40.0/27", "211.249.68.0/27", "220.230.168.0/27", "2001:db8::/32")
]
PEERS = {
    "inside_first_range": ("211.249.40.1", True),
    "last_address_of_range": ("211.249.40.31", True),
    "just_outside": ("211.249.40.32", False),
    "third_range": ("220.230.168.30", True),
    "localhost": ("127.0.0.1", False),
    "ipv4_mapped_ipv6": ("::ffff:211.249.68.5", True),
    "ipv6_inside": ("2001:db8::1", True),
    "ipv6_scoped_outside": ("fe80::1%eth0", False),
    "not_an_address": ("talk.naver.com", False),
    "unknown_peer": (None, False),
}


@pytest.mark.parametrize(("remote", "allowed"), PEERS.values(), ids=PEERS.keys())
def test_peer_allowed(remote: str | None, allowed: bool) -> None:
    assert peer_allowed(remote, NAVER) is allowed
