"""Instagram messaging runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

from inbox_core.testing.conformance import channel_conformance
from inbox_ingest_social.channels.facebook import Instagram

from .meta_conformance import meta_spec

TestInstagramConformance = channel_conformance(meta_spec(Instagram, "17841400123456789"))
