"""Re-export of `inbox_core.placeholders`: the FAQ bot renders its answers with it too."""

from inbox_core.placeholders import (
    FALLBACKS,
    KNOWN,
    PLACEHOLDER,
    render,
    unknown_placeholders,
    values_for,
)

__all__ = ["FALLBACKS", "KNOWN", "PLACEHOLDER", "render", "unknown_placeholders", "values_for"]
