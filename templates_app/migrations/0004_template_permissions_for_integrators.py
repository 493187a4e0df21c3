"""Integrators see accounts, sender numbers and templates (to send them); Marketing manages them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {
    "Integrator": {
        "whatsappaccount": ["view"],
        "sendernumber": ["view"],
        "messagetemplate": ["view"],
        "templatestatuschange": ["view"],
    },
}


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{verb}_{model}" for model, verbs in grants.items() for verb in verbs]
    permissions = Permission.objects.filter(
        content_type__app_label="templates_app", codename__in=codenames
    )
    assert permissions.count() == len(codenames), "a templates_app permission is missing"
    return permissions


def grant(apps, schema_editor):
    app_config = apps.get_app_config("templates_app")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for group_name, grants in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(apps, grants))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group_name, grants in GRANTS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, grants))


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_integrator_and_data_protection_groups"),
        ("templates_app", "0003_template_permissions_for_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
