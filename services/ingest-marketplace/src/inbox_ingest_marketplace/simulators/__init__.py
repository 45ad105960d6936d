"""Local simulators speaking each marketplace's real HTTP shape (tests and demo)."""
