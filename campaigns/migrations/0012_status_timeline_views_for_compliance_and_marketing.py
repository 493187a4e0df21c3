"""Let Compliance (read-only everywhere) and Marketing read each campaign's status timeline: who
launched, paused, resumed or cancelled it, and when."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
CODENAME = "view_campaignstatuschange"
GROUPS = ("Compliance", "Marketing")


def _permission(apps):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.get(content_type__app_label="campaigns", codename=CODENAME)


def grant(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them now so the groups
    # can reference them on a fresh database.
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    permission = _permission(apps)
    for group_name in GROUPS:
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    permission = _permission(apps)
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0011_campaign_permissions_for_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
