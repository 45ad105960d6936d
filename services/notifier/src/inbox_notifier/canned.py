"""Canned responses in the store: texts with placeholders that agents reuse (placeholders
checked on write, see template_entries.py)."""

from __future__ import annotations

from typing import ClassVar

from inbox_notifier.queue import CANNED
from inbox_notifier.template_entries import TemplateEntries, check_placeholders

__all__ = ["CannedResponses", "check_placeholders"]


class CannedResponses(TemplateEntries):
    collection = CANNED
    noun = "canned response"
    text_field = "text"
    order: ClassVar[list[tuple[str, int]]] = [("title", 1)]
