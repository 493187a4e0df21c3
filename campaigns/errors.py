"""Domain errors of the campaigns app, with messages meant for the person who caused them."""

from __future__ import annotations


class CampaignError(Exception):
    """A campaign operation was refused; `message` says why, in the user's terms."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class IllegalTransition(CampaignError):
    """The campaign's current state does not allow the requested action."""
