"""The domain error of the subscriptions app."""

from __future__ import annotations


class SubscriptionError(Exception):
    """A subscription operation was refused; `message` says why, in the user's terms, and
    `field_errors` which input was wrong (shown on the admin form, 400 in the API)."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
