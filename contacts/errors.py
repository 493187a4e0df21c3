"""The domain error of the contacts app."""

from __future__ import annotations


class ContactError(Exception):
    """A business rule refused the request.

    `message` is written for the person who made the request (it is shown in the admin and
    returned by the API); `field` names the input it is about, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
