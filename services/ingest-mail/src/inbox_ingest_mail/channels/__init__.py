"""Channel modules: one per channel."""
