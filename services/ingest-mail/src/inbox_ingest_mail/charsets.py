"""Charsets of Korean mail: labels to codecs, and decoding that picks the right one.

Every function here is pure and total: any bytes give text, nothing raises.

Order of trust (see shared/channels/email.md §3):
1. ISO-2022-KR escape sequences, whatever the label says (7-bit Korean from old mailers).
2. Pure ASCII bytes decode as ASCII under any ASCII-compatible label.
3. Valid UTF-8 with non-ASCII bytes beats a legacy label (EUC-KR family, Latin-1, ASCII,
   missing, unknown): CP949 Hangul is never valid UTF-8, so this only fixes mislabels.
4. The declared codec, strictly; every EUC-KR family label is decoded as CP949.
5. For a permissive or missing label (ASCII, Latin-1/CP1252, unknown) or a label the bytes
   break: charset-normalizer's best guess among CP949, UTF-8 and the declared codec.
6. CP949 strictly, the declared codec (CP1252 when none); last, replacement characters.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Final

from charset_normalizer import from_bytes

# Every EUC-KR family label is decoded as CP949 (its superset): Outlook labels CP949 bytes
# `ks_c_5601-1987`, and syllables such as 똠 fail under a strict euc_kr codec.
_CP949_LABELS: Final = frozenset(
    {
        "euc-kr", "euc_kr", "euckr", "ks_c_5601-1987", "ks_c_5601-1989", "ks_c_5601",
        "ksc5601", "ksc_5601", "korean", "cp949", "uhc", "ms949", "x-uhc",
        "windows-949", "x-windows-949",
    }
)  # fmt: skip
# Labels that say little: any byte decodes under them, or they are often wrong.
_PERMISSIVE: Final = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})
_LEGACY: Final = _PERMISSIVE | {"cp949"}
_ISO2022KR_DESIGNATOR: Final = b"\x1b$)C"
_DETECT_LIMIT: Final = 64 * 1024  # charset-normalizer reads at most this much
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# Codecs that are not text charsets (or that turn escapes into surrogates).
_NOT_CHARSETS: Final = frozenset(
    {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"}
)


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown or not a charset."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()[:40]
    if name in _CP949_LABELS:
        return "cp949"
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(codec, "_is_text_encoding", True) or codec.name in _NOT_CHARSETS:
        return None
    return "cp949" if codec.name == "euc_kr" else codec.name


def valid_text(text: str) -> str:
    """Lone surrogates (surrogate-escaped bytes) would make the message unserialisable as
    UTF-8 JSON: replace them."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


@dataclass(frozen=True)
class Decoded:
    text: str
    codec: str  # the codec used
    declared: str | None  # the codec the label named, None when missing or unknown

    @property
    def mislabelled(self) -> bool:
        """The bytes were not in the declared charset (ASCII under any label is fine)."""
        return self.declared is not None and self.codec not in (self.declared, "ascii")


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (LookupError, ValueError):  # ValueError covers UnicodeDecodeError
        return None


def _detect(data: bytes, declared: str | None) -> str | None:
    candidates = list(dict.fromkeys(c for c in ("cp949", "utf-8", declared or "cp1252") if c))
    try:
        best = from_bytes(data[:_DETECT_LIMIT], cp_isolation=candidates).best()
    except Exception:  # a detector bug must not lose the mail; fall through to CP949
        return None
    return best.encoding if best is not None else None


def decode_text(data: bytes, charset: str | None = None) -> Decoded:
    """Bytes of a part (or header) in its declared charset → text, the codec that fit."""
    declared = codec_for(charset)
    if _ISO2022KR_DESIGNATOR in data[:4096] and (text := _strict(data, "iso2022_kr")):
        return Decoded(valid_text(text), "iso2022_kr", declared)
    if data.isascii() and (declared is None or declared in _LEGACY or declared == "utf-8"):
        return Decoded(data.decode("ascii"), "ascii", declared)
    if declared is None or declared in _LEGACY:
        if (text := _strict(data, "utf-8")) is not None:
            return Decoded(valid_text(text), "utf-8", declared)
    if declared is not None and declared not in _PERMISSIVE:
        if (text := _strict(data, declared)) is not None:
            return Decoded(valid_text(text), declared, declared)
    guess = _detect(data, declared)
    for codec in dict.fromkeys(c for c in (guess, "cp949", declared or "cp1252") if c):
        if (text := _strict(data, codec)) is not None:
            return Decoded(valid_text(text), codecs.lookup(codec).name, declared)
    fallback = declared or "utf-8"
    try:
        text = data.decode(fallback, errors="replace")
        return Decoded(valid_text(text), codecs.lookup(fallback).name, declared)
    except (LookupError, ValueError):
        return Decoded(data.decode("utf-8", errors="replace"), "utf-8", declared)


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """`decode_text` without the detail."""
    return decode_text(data, charset).text
