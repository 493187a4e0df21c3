"""Celery tasks of the contacts app: thin wrappers that take ids and call services."""

from __future__ import annotations
