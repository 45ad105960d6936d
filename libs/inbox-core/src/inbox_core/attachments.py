"""Files in agent replies: which channel can carry which files (limits as data), shared by
the notifier, which refuses a reply up front (422 `attachments_not_supported`), and the
connectors, which check again before sending.

Mail carries any file as a MIME part. Messenger takes images, audio, video and files through
the Send API's attachment upload (25 MB); Instagram takes images, audio and video. TalkTalk
takes JPG/PNG/GIF images by a public URL it downloads (imageContent.imageUrl), so only when
the notifier has one (INBOX_PUBLIC_URL); Kakao the same in the chatbot callback
(simpleImage.imageUrl, valid a minute after the customer wrote: later, the dealer's API
would need its own upload, and the reply is reported failed with the reason). The open
markets' answer APIs carry text only: they carry none, as do channels this table does not
know (a new connector opts in here).
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
    by_url: bool = False  # the platform fetches each file from a public URL we give it


REPLY_FILES: Final[dict[str, FileLimits]] = {
    "mail": FileLimits(types=None, max_bytes=10 * MB),
    "facebook": FileLimits(types=None, max_bytes=25 * MB),
    "instagram": FileLimits(types=("image/", "audio/", "video/"), max_bytes=25 * MB),
    # simpleImage.imageUrl in the chatbot callback (a minute after the customer wrote; the
    # connector reports a later reply failed with the reason): JPG, PNG, GIF, 5 MB.
    "kakao": FileLimits(
        types=("image/jpeg", "image/png", "image/gif"), max_bytes=5 * MB, max_files=2, by_url=True
    ),
    # imageContent.imageUrl: TalkTalk downloads the image once (JPG, PNG, GIF, 20 MB).
    "naver_talktalk": FileLimits(
        types=("image/jpeg", "image/png", "image/gif"), max_bytes=20 * MB, by_url=True
    ),
}


def reply_file_problem(
    channel: str, attachments: list[Attachment], *, public_links: bool = True
) -> str | None:
    """Why `channel` cannot carry these files, or None when it can. `public_links`: the
    files can be given as public URLs (the notifier has INBOX_PUBLIC_URL)."""
    if not attachments:
        return None
    limits = REPLY_FILES.get(channel)
    if limits is None:
        return f"{channel} replies cannot carry files"
    if limits.by_url and not public_links:
        return f"{channel} fetches files by URL: set INBOX_PUBLIC_URL so it can reach them"
    if len(attachments) > limits.max_files:
        return f"{channel} replies carry at most {limits.max_files} files"
    for a in attachments:
        if limits.types is not None and not a.content_type.startswith(limits.types):
            return f"{channel} replies cannot carry {a.content_type} ({a.name})"
        if a.size > limits.max_bytes:
            return f"{a.name} is larger than {channel} accepts ({limits.max_bytes // MB} MB)"
    return None
