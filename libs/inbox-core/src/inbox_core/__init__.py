"""Shared core of the omnichannel inbox: schema, bus, store, settings, telemetry, connector SDK."""

__version__ = "0.1.0"
