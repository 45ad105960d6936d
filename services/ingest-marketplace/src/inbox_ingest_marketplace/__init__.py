"""inbox_ingest_marketplace"""
