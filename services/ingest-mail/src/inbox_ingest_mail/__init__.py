"""inbox_ingest_mail"""
