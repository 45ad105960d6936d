"""Test helpers shipped with inbox-core (a pytest plugin registered as `inbox_core`)."""
