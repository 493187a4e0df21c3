"""Writes and business rules of the webhooks app."""

from __future__ import annotations
