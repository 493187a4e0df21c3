"""Let the Compliance (read-only) group see campaigns and the message ledger with its status
events: what the message audit export and the dashboard's message panels need. View only."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {"Compliance": ["view_campaign", "view_message", "view_messagestatusevent"]}


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="campaigns", codename__in=codenames
    )
    assert permissions.count() == len(codenames), "a campaigns permission is missing"
    return permissions


def grant(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them now so the group
    # can reference them on a fresh database.
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group_name, codenames in GRANTS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0003_compliance_and_marketing_groups"),
        ("campaigns", "0009_message_operations_indexes"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
