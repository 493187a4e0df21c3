"""API permissions shared by every app."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request


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


def requires_permissions(*permissions: str) -> type[BasePermission]:
    """A permission class for actions whose HTTP verb does not say what they do (a POST that
    launches a campaign, a POST that only reads)."""

    class RequiresPermissions(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return bool(request.user and request.user.has_perms(permissions))

    return RequiresPermissions
