"""Reading a template's components: which variables a send has to fill.

Meta returns components as raw JSON (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`); this module finds the
`{{1}}` / `{{first_name}}` placeholders in them so a sender (or the sandbox) can check a message's
parameters against the template before sending.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def placeholders(text: str | None) -> tuple[str, ...]:
    """The distinct variable names in `text`, in order of first appearance (`"1"`, `"name"`)."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(text or ""):
        seen.setdefault(match.group(1), None)
    return tuple(seen)


@dataclass(frozen=True)
class ButtonSlot:
    """One template button: its position, Meta type (URL, QUICK_REPLY...) and URL variables."""

    index: int
    type: str
    text: str
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateVariables:
    """What a send of this template must supply.

    * `header_format`: TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION, or None without a header;
    * `header` / `body`: variable names of the header text and the body;
    * `buttons`: every button, so a send-time button parameter can be matched by index.
    """

    header_format: str | None
    header: tuple[str, ...]
    body: tuple[str, ...]
    buttons: tuple[ButtonSlot, ...]

    @property
    def media_header(self) -> bool:
        return self.header_format in {"IMAGE", "VIDEO", "DOCUMENT"}

    @property
    def url_buttons_with_variable(self) -> tuple[ButtonSlot, ...]:
        return tuple(slot for slot in self.buttons if slot.type == "URL" and slot.variables)


def template_variables(components: Iterable[Mapping[str, Any]]) -> TemplateVariables:
    """Extract the variables of a template from its components (case of `type` ignored)."""
    header_format: str | None = None
    header: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    buttons: list[ButtonSlot] = []
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format") or "TEXT").upper()
            if header_format == "TEXT":
                header = placeholders(component.get("text"))
        elif kind == "BODY":
            body = placeholders(component.get("text"))
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                button_type = str(button.get("type", "")).upper()
                variables = placeholders(button.get("url")) if button_type == "URL" else ()
                buttons.append(
                    ButtonSlot(
                        index=index,
                        type=button_type,
                        text=str(button.get("text", "")),
                        variables=variables,
                    )
                )
    return TemplateVariables(
        header_format=header_format, header=header, body=body, buttons=tuple(buttons)
    )
