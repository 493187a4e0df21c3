"""Admin building blocks every app uses: panels other apps add to a change page, and domain
errors shown as admin messages.

Panels let an app show its own data on another app's change page without that app importing
it (apps depend one way): the campaigns app adds "messages sent" to the contact page and "used by
campaigns" to the template page, the webhooks app adds "messages received" to the contact page.
A panel renders HTML for one object, or None to show nothing (typically: the staff member may
not view that data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.text import slugify

PanelRenderer = Callable[[HttpRequest, Any], SafeString | None]


@dataclass(frozen=True)
class AdminPanel:
    title: str
    render: PanelRenderer
    order: int

    @property
    def slug(self) -> str:
        return slugify(self.title)


@dataclass(frozen=True)
class RenderedPanel:
    title: str
    slug: str
    html: SafeString


_panels: dict[str, list[AdminPanel]] = {}


def register_panel(
    model_label: str, *, title: str, order: int = 100
) -> Callable[[PanelRenderer], PanelRenderer]:
    """Decorate `render(request, obj)` to show it on the change page of `model_label`
    ("contacts.contact"); panels are shown by `order`, then title."""

    def decorate(render: PanelRenderer) -> PanelRenderer:
        panels = [panel for panel in _panels.get(model_label, []) if panel.title != title]
        panels.append(AdminPanel(title=title, render=render, order=order))
        _panels[model_label] = sorted(panels, key=lambda panel: (panel.order, panel.title))
        return render

    return decorate


def panels_for(request: HttpRequest, obj: Model) -> list[RenderedPanel]:
    rendered = []
    for panel in _panels.get(obj._meta.label_lower, []):
        html = panel.render(request, obj)
        if html is not None:
            rendered.append(RenderedPanel(title=panel.title, slug=panel.slug, html=html))
    return rendered


class PanelsMixin:
    """A ModelAdmin whose change page shows the panels registered for its model.

    Its change form template must include "admin/tidings/panels.html" (the default template
    here does, after the inlines).
    """

    change_form_template = "admin/tidings/change_form.html"

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, obj: Any = None, **kw: Any
    ) -> HttpResponse:
        context["tidings_panels"] = panels_for(request, obj) if obj is not None else []
        return super().render_change_form(request, context, *args, obj=obj, **kw)


def error_text(error: Exception) -> str:
    """The user-facing text of a domain error: its `message`, with the broken rules it lists
    (`problems`, or `field_errors` by field) when it has them."""
    text = getattr(error, "message", None)
    if not isinstance(text, str) or not text:
        if hasattr(error, "messages"):  # a ValidationError
            return " ".join(str(item) for item in error.messages)
        return str(error)
    details = [str(problem) for problem in getattr(error, "problems", None) or []]
    field_errors = getattr(error, "field_errors", None) or {}
    details += [f"{field}: {'; '.join(problems)}" for field, problems in field_errors.items()]
    return " ".join([text, *details])


class DomainErrorsAsMessages:
    """Show the app's domain errors (`domain_errors`) raised while saving, deleting or running
    an action as an error message on the page the staff member came from, not a server error.

    Forms check what they can; these are the rules only a service can apply at the moment of
    writing (a race with another change, a state that moved on).
    """

    domain_errors: tuple[type[Exception], ...] = ()

    def _refused(self, request: HttpRequest, error: Exception, back_to: str) -> HttpResponse:
        self.message_user(request, error_text(error), messages.ERROR)
        return HttpResponseRedirect(back_to)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except self.domain_errors as error:
            return self._refused(request, error, request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except self.domain_errors as error:
            opts = self.model._meta
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            return self._refused(request, error, change)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except self.domain_errors as error:
            return self._refused(request, error, request.get_full_path())
