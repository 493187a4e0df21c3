"""Compliance reads everything Meta's webhooks brought; Marketing reads the replies."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {
    "Compliance": {
        "webhookdelivery": ["view"],
        "unmatchedstatus": ["view"],
        "inboundmessage": ["view"],
        "webhookevent": ["view"],
    },
    "Marketing": {"inboundmessage": ["view"]},
}


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{verb}_{model}" for model, verbs in grants.items() for verb in verbs]
    permissions = Permission.objects.filter(
        content_type__app_label="webhooks", codename__in=codenames
    )
    assert permissions.count() == len(codenames), "a webhooks permission is missing"
    return permissions


def grant(apps, schema_editor):
    app_config = apps.get_app_config("webhooks")
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
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0003_compliance_and_marketing_groups"),
        ("webhooks", "0002_inbound_message_consent_reply"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
