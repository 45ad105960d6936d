"""Shop Chat: an example channel on the inbox's connector SDK."""
