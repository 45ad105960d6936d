"""One module per platform. Meta's Messenger and Instagram share `facebook.py`."""

from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig

__all__ = ["Facebook", "Instagram", "MetaConfig"]
