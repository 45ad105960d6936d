"""ingest-marketplace: pollers for open-market Q&A boards, answers posted back."""
