"""Granting model permissions to the role groups from data migrations.

Each app's migrations freeze *what* a group gets (their own `GRANTS` mappings, so a migration
never changes meaning when the roles change later); this module is only *how*. Keep its
behaviour stable: migrations that already ran elsewhere import it.

A grant maps a group name to `{model name: [verb, ...]}`, the verbs being `view`, `add`,
`change`, `delete` or a custom permission's prefix (`erase` for `erase_contact`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

Grants = Mapping[str, Mapping[str, Sequence[str]]]


def _codenames(models: Mapping[str, Sequence[str]]) -> list[str]:
    return [f"{verb}_{model}" for model, verbs in models.items() for verb in verbs]


def _permissions(apps: Any, app_label: str, models: Mapping[str, Sequence[str]]) -> Any:
    codenames = _codenames(models)
    permissions = apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label=app_label, codename__in=codenames
    )
    assert permissions.count() == len(codenames), f"a {app_label} permission is missing"
    return permissions


def _create_permissions(apps: Any, app_label: str) -> None:
    # Permissions are normally created after `migrate` finishes; create them now so the groups
    # can reference them on a fresh database.
    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None


def group_permissions_grant(apps: Any, app_label: str, grants: Grants) -> None:
    """Give each group (created when missing) the permissions of `app_label` it is granted."""
    _create_permissions(apps, app_label)
    Group = apps.get_model("auth", "Group")
    for group_name, models in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(apps, app_label, models))


def group_permissions_revoke(apps: Any, app_label: str, grants: Grants) -> None:
    """Take the granted permissions back from the groups that exist."""
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=list(grants)):
        group.permissions.remove(*_permissions(apps, app_label, grants[group.name]))


def grant_operation(
    app_label: str, grants: Grants, *, reverse: Callable | None = None
) -> migrations.RunPython:
    """A RunPython that grants on the way forward and revokes (or runs `reverse`) backwards."""

    def grant(apps: Any, schema_editor: Any) -> None:
        group_permissions_grant(apps, app_label, grants)

    def revoke(apps: Any, schema_editor: Any) -> None:
        group_permissions_revoke(apps, app_label, grants)

    return migrations.RunPython(grant, reverse or revoke)
