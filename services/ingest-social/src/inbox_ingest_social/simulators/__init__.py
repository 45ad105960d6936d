"""Local stand-ins for the platforms, with their real HTTP shape (tests and `make demo`)."""
