"""Reads and querysets of the templates app."""

from __future__ import annotations
