"""inbox_notifier: the unified queue, the agent API and the event stream."""

__version__ = "0.1.0"
