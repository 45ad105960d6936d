"""inbox_router"""
