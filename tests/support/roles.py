"""What the groups set up by the data migrations hold."""

from __future__ import annotations

from django.contrib.auth.models import Group


def group_codenames(group_name: str, app_label: str) -> set[str]:
    """The codenames of the permissions of `app_label` that the group holds."""
    return set(
        Group.objects.get(name=group_name)
        .permissions.filter(content_type__app_label=app_label)
        .values_list("codename", flat=True)
    )
