"""11st's XML, read and written (pure: bytes in, values out).

Charsets (elevenst.md §3): 11st answers in EUC-KR or UTF-8, not always saying which. We
honour the XML declaration, then the `charset` of `Content-Type`, then try UTF-8, then
CP949; every EUC-KR label is decoded as CP949 (its superset, which Korean servers really
send). Elements are read by local name: the `ns2:` prefix is ignored, declared or not.
Answers are written as EUC-KR-declared XML encoded in CP949, as production clients do.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from inbox_core.errors import AuthError, InboxError, InvalidPayload, PermanentError, TransientError

EUC_KR_LABELS: Final = frozenset(
    {
        "euc-kr",
        "euc_kr",
        "euckr",
        "ks_c_5601-1987",
        "ks_c_5601",
        "ksc5601",
        "korean",
        "x-windows-949",
        "windows-949",
        "ms949",
        "cp949",
        "uhc",
    }
)
_DECLARED = re.compile(rb"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_PREFIX = re.compile(r"<(/?)[A-Za-z_][\w.-]*:")
NO_RESULTS_MARKERS: Final = ("검색된", "조회된", "없습니다")
AUTH_MARKERS: Final = ("openapi key", "openapikey", "api key", "인증")


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label; EUC-KR and its aliases become cp949."""
    if not label:
        return None
    norm = label.strip().strip("\"'").lower()
    if norm in EUC_KR_LABELS:
        return "cp949"
    try:
        return codecs.lookup(norm).name
    except LookupError:
        return None


def decode_xml(body: bytes, content_type: str | None = None) -> str:
    """The text of an 11st response, whatever charset it came in."""
    header = _CHARSET.search(content_type or "")
    declared = _DECLARED.search(body[:300])
    # The declaration first: the XML writer that made the bytes wrote it, while 11st's HTTP
    # header is sometimes a framework default (`charset=UTF-8` over EUC-KR bytes).
    candidates = [
        codec_for(declared.group(1).decode("ascii") if declared else None),
        codec_for(header.group(1) if header else None),
        "utf-8",
        "cp949",
    ]
    for codec in dict.fromkeys(c for c in candidates if c):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        return text.removeprefix("\ufeff")
    return body.decode("cp949", errors="replace")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def parse_xml(text: str) -> ET.Element:
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise InvalidPayload("11st XML with a DOCTYPE/ENTITY is refused")
    body = _PROLOG.sub("", text, count=1)
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        try:  # an undeclared `ns2:` prefix: read the document without prefixes
            return ET.fromstring(_PREFIX.sub(r"<\1", body))
        except ET.ParseError as err:
            raise InvalidPayload(f"11st answer is not XML: {err}") from err


def fields(element: ET.Element) -> dict[str, str]:
    """Child elements by local name → their text (stripped; empty for none)."""
    return {_local(child.tag): (child.text or "").strip() for child in element}


@dataclass(frozen=True)
class QnaList:
    items: list[dict[str, str]]
    result_code: str | None = None
    result_text: str | None = None


def parse_qna_list(root: ET.Element) -> QnaList:
    """`<productQnas>` with `<productQna>` children, or an error `result_code`/`result_text`."""
    items = [fields(child) for child in root if _local(child.tag) == "productQna"]
    top = fields(root)
    code = top.get("result_code") or top.get("resultCode")
    text = top.get("result_text") or top.get("message")
    return QnaList(items, code or None, text or None)


def result_of(root: ET.Element) -> tuple[str, str]:
    """`(resultCode, message)` of a `<ClientMessage>` (or an error list document)."""
    top = fields(root)
    code = top.get("resultCode") or top.get("result_code") or ""
    message = top.get("message") or top.get("result_text") or ""
    return code, message


def error_for_result(code: str | None, text: str | None, *, what: str) -> InboxError | None:
    """11st reports errors inside its XML (often with HTTP 200): 500 business error, -1000
    maintenance. None when it is a success or a plain "nothing found"."""
    code = (code or "").strip()
    text = (text or "").strip()
    if _no_results(text) or code in ("0", "200") or not (code or text):
        return None
    detail = f"{what}: 11st {code or '?'}: {text}".rstrip(": ")
    lowered = text.lower()
    if any(marker in lowered for marker in AUTH_MARKERS):
        return AuthError(detail)
    if code == "-1000":
        return TransientError(detail)
    return PermanentError(detail)


def _no_results(text: str) -> bool:
    return "없습니다" in text and any(m in text for m in NO_RESULTS_MARKERS[:2])


def answer_xml(text: str) -> bytes:
    """`<ProductQna><answerCont>…</answerCont></ProductQna>`, EUC-KR declared, CP949 bytes.
    The text must already be CP949-encodable (`AnswerLimits` checks it)."""
    root = ET.Element("ProductQna")
    ET.SubElement(root, "answerCont").text = text
    xml = '<?xml version="1.0" encoding="euc-kr"?>' + ET.tostring(root, encoding="unicode")
    return xml.encode("cp949")
