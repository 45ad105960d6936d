"""Masking of personal data (PIPA: phone numbers, e-mail addresses, 주민등록번호, card numbers)."""

from __future__ import annotations

import re
from typing import Any

# Order matters: the longer digit patterns go first so a card or resident number is not
# half-eaten by the phone pattern.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Card numbers: 13-19 digits in groups (4-4-4-4, 4-6-5 Amex), separated by space or dash.
    (
        re.compile(
            r"(?<!\d)(?:\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{5})(?!\d)"
        ),
        "[card]",
    ),
    # 주민등록번호 / 외국인등록번호: YYMMDD-GNNNNNN (G = 1..8).
    (
        re.compile(
            r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?[-–]?\s?[1-8]\d{6}(?!\d)"
        ),
        "[rrn]",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # Mobile (010…, +82 10…) and landline (02-…, 031-…) numbers.
    (
        re.compile(
            r"(?<![\d+])(?:\+82[ -]?|0)(?:1[016789]|2|[3-6][1-5]|70)[ .-]?\d{3,4}[ .-]?\d{4}(?!\d)"
        ),
        "[phone]",
    ),
]


def mask_pii(text: str) -> str:
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
