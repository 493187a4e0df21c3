"""Writes and business rules of the campaigns app."""

from __future__ import annotations
