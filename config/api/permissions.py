"""API permissions shared by every app."""

from __future__ import annotations

from rest_framework.permissions import DjangoModelPermissions


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
