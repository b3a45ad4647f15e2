"""Backup archives: their format and encryption (no database here)."""
