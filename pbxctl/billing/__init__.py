"""Billing: rate decks, CDR parsing and rating, cost reports."""
