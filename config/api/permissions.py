"""API permissions shared by every app."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request


def refuse_unknown_method(request: Request, view: Any) -> None:
    """A verb the endpoint does not have is a 405 for everyone who is logged in, not a 403 for
    those who lack a permission that no verb would use (DRF checks permissions first)."""
    method = request.method.lower()
    if method != "options" and not callable(getattr(view, method, None)):
        raise MethodNotAllowed(request.method)


class ModelPermissionsIncludingView(DjangoModelPermissions):
    """Django model permissions for every verb, reads included.

    DRF's own class lets any authenticated user read; here a read needs the model's `view`
    permission, so a role sees exactly what it sees in the admin. Views without a queryset
    (custom actions) must declare their own permission classes.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            refuse_unknown_method(request, view)
        return super().has_permission(request, view)


def requires_permissions(*permissions: str) -> type[BasePermission]:
    """A permission class for actions whose HTTP verb does not say what they do (a POST that
    launches a campaign, a POST that only reads)."""

    class RequiresPermissions(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            if request.user and request.user.is_authenticated:
                refuse_unknown_method(request, view)
            return bool(request.user and request.user.has_perms(permissions))

    return RequiresPermissions
