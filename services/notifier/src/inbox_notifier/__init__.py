"""inbox_notifier"""
