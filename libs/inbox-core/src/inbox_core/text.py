"""Text helpers shared by services (subject normalisation for threading)."""

from __future__ import annotations

import re
import unicodedata

# Reply/forward prefixes in English and Korean mail clients, possibly repeated or numbered:
# "Re: ", "RE[2]: ", "Fwd: ", "FW: ", "답장: ", "회신: ", "전달: ", "답변: ".
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|답장|회신|전달|답변)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE
)
_TICKET_TAG = re.compile(r"\[#\d+\]")


def normalise_subject(subject: str | None) -> str:
    """'RE: Fwd: 배송 문의 [#123]' → '배송 문의': the subject a thread is recognised by."""
    if not subject:
        return ""
    text = unicodedata.normalize("NFKC", subject)
    text = _TICKET_TAG.sub(" ", text)
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text)
    return " ".join(text.split()).lower()


def ticket_number(subject: str | None) -> int | None:
    """The conversation number in a `[#123]` subject tag, if any."""
    match = _TICKET_TAG.search(subject or "")
    return int(match.group(0)[2:-1]) if match else None
