"""The content type of an uploaded file from its first bytes (magic numbers), never from
its name or the browser's word: a `.png` that is a program is stored as
application/octet-stream. The name only picks between formats that share a container (a
ZIP that is a .docx, an OLE2 file that is a .hwp or .xls)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final

OCTET: Final = "application/octet-stream"

_MAGIC: Final[list[tuple[bytes, int, str]]] = [  # (signature, offset, type)
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
]
_ZIP_BY_SUFFIX: Final = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".hwpx": "application/hwp+zip",
}
_OLE_BY_SUFFIX: Final = {
    ".hwp": "application/x-hwp",  # 한글 (Hancom) documents, common in Korean shops
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
}
_TEXT_BY_SUFFIX: Final = {".csv": "text/csv"}


def sniff_content_type(data: bytes, name: str) -> str:
    head = data[:64]
    suffix = PurePosixPath(name.lower()).suffix
    for signature, offset, content_type in _MAGIC:
        if head[offset : offset + len(signature)] == signature:
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "image/heic" if brand in (b"heic", b"heix", b"mif1") else "video/mp4"
    if head[:4] == b"PK\x03\x04":
        return _ZIP_BY_SUFFIX.get(suffix, "application/zip")
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return _OLE_BY_SUFFIX.get(suffix, OCTET)
    if _is_text(data):
        return _TEXT_BY_SUFFIX.get(suffix, "text/plain")
    return OCTET


def _is_text(data: bytes) -> bool:
    sample = data[:4096]
    if not sample or b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start >= len(sample) - 3  # a character cut at the end of the sample
    return True
