"""inbox_ingest_social"""
