"""Files in agent replies: which channel can carry which files (limits as data), shared by
the notifier, which refuses a reply up front (422 `attachments_not_supported`), and the
connectors, which check again before sending.

Mail carries any file as a MIME part. Messenger takes images, audio, video and files through
the Send API's attachment upload (25 MB); Instagram takes images, audio and video. Kakao and
TalkTalk accept images only by a publicly reachable URL (simpleImage.imageUrl,
imageContent.imageUrl) or through a dealer's upload API, which this stack does not expose,
and the open markets' answer APIs carry text only: those channels carry none, as do channels
this table does not know (a new connector opts in here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from inbox_core.schema import Attachment

MB: Final = 1024 * 1024
MAX_UPLOAD_BYTES: Final = 10 * MB  # POST /api/attachments


@dataclass(frozen=True)
class FileLimits:
    types: tuple[str, ...] | None  # content-type prefixes; None: any file
    max_bytes: int
    max_files: int = 10


REPLY_FILES: Final[dict[str, FileLimits]] = {
    "mail": FileLimits(types=None, max_bytes=10 * MB),
    "facebook": FileLimits(types=None, max_bytes=25 * MB),
    "instagram": FileLimits(types=("image/", "audio/", "video/"), max_bytes=25 * MB),
}


def reply_file_problem(channel: str, attachments: list[Attachment]) -> str | None:
    """Why `channel` cannot carry these files, or None when it can."""
    if not attachments:
        return None
    limits = REPLY_FILES.get(channel)
    if limits is None:
        return f"{channel} replies cannot carry files"
    if len(attachments) > limits.max_files:
        return f"{channel} replies carry at most {limits.max_files} files"
    for a in attachments:
        if limits.types is not None and not a.content_type.startswith(limits.types):
            return f"{channel} replies cannot carry {a.content_type} ({a.name})"
        if a.size > limits.max_bytes:
            return f"{a.name} is larger than {channel} accepts ({limits.max_bytes // MB} MB)"
    return None
