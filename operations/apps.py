from __future__ import annotations

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operators' views over every other app: /metrics and the admin dashboard (no models)."""

    name = "operations"
    verbose_name = "Operations"
