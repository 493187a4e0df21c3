"""Writes and business rules of the templates app."""

from __future__ import annotations
