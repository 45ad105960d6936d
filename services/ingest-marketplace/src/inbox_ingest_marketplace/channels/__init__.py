"""One module per marketplace channel (PollingChannel subclasses)."""
