"""The templates app's domain error."""

from __future__ import annotations

from collections.abc import Sequence

from whatsapp import ProviderError

from ..placeholders import Problem


class TemplateError(Exception):
    """A template operation was refused; `message` is meant for the person who asked.

    `problems` lists broken rules by component (for per-field API errors); `provider_error` is
    Meta's answer when Meta refused.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[Problem] = (),
        provider_error: ProviderError | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)
        self.provider_error = provider_error

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return f"{self.message} " + " ".join(str(problem) for problem in self.problems)
