"""Masking of personal data (PIPA: phone numbers, e-mail addresses, 주민등록번호, card numbers)
and of credentials in URLs (`nats://user:password@nats:4222`, whatever the host)."""

from __future__ import annotations

import re
from typing import Any

# Digits inside an ASCII word (a hex trace id, a page id in a subject like
# `inbox.in.facebook.100000000000009`) are identifiers, not personal data; digits next to
# Korean text or punctuation are. Hence the ASCII-only boundaries below.
_START = r"(?<![0-9A-Za-z_+])"
_END = r"(?![0-9A-Za-z_])"

# Card numbers: 13-19 digits in groups (4-4-4-4, 4-6-5 Amex), separated by space or dash;
# masked only when the Luhn check passes, as every issued card number does.
_CARD = re.compile(
    r"(?<![0-9A-Za-z_.+])"  # nor after a dot: a page id in a subject is no card
    + r"(?:\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{5})"
    + _END
)
# Order matters: the longer digit patterns go first so a resident number is not half-eaten
# by the phone pattern.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # 주민등록번호 / 외국인등록번호: YYMMDD-GNNNNNN (G = 1..8).
    (
        re.compile(
            _START + r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?[-–]?\s?[1-8]\d{6}" + _END
        ),
        "[rrn]",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # Mobile (010…, +82 10…) and landline (02-…, 031-…) numbers.
    (
        re.compile(
            _START + r"(?:\+82[ -]?|0)(?:1[016789]|2|[3-6][1-5]|70)[ .-]?\d{3,4}[ .-]?\d{4}" + _END
        ),
        "[phone]",
    ),
]


# The user info of any URL: from `scheme://` to the last `@` before the host's end. Greedy, so
# a password with a raw `@` in it is masked whole; no `/`, `?`, `#` or space in between, so
# an e-mail address later in the text is not taken for user info.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#]*@")


def mask_url_credentials(text: str) -> str:
    """`smtp://relay:s3cret@mail:587` → `smtp://***@mail:587`, for any host."""
    return _URL_USERINFO.sub(r"\1***@", text)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    return "[card]" if luhn_ok(match.group()) else match.group()


def mask_pii(text: str) -> str:
    text = mask_url_credentials(text)
    text = _CARD.sub(_card, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_value(value: Any) -> Any:
    """Mask strings anywhere inside dicts, lists and tuples."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value
