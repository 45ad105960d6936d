"""Facebook Messenger runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

from inbox_core.testing.conformance import channel_conformance
from inbox_ingest_social.channels.facebook import Facebook

from .meta_conformance import meta_spec

TestFacebookConformance = channel_conformance(meta_spec(Facebook, "104857600123456"))
