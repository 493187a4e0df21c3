"""Celery tasks of the templates app: thin wrappers that take ids and call services."""

from __future__ import annotations
