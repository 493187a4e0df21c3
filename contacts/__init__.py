"""Contacts, consent ledger, segments, imports and erasure."""
