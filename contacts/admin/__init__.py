"""Admin of the contacts app: contacts with their consent timeline, the read-only consent ledger
with its audit export, segments with a live count, and CSV imports with progress."""

from __future__ import annotations

from contacts.admin import consent, contacts, imports, segments

__all__ = ["consent", "contacts", "imports", "segments"]
