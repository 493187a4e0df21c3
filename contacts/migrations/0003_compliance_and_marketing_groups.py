"""Create the Compliance (read-only) and Marketing groups; see contacts/roles.py for the why."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copies of contacts.roles at the time of this migration: a migration must not change
# meaning when the module does.
COMPLIANCE_PERMISSIONS = {
    "contact": ["view"],
    "tag": ["view"],
    "consentrecord": ["view"],
    "segment": ["view"],
    "contactimport": ["view"],
    "contactimportrejectedrow": ["view"],
}
MARKETING_PERMISSIONS = {
    "contact": ["view", "add", "change"],
    "tag": ["view", "add", "change"],
    "consentrecord": ["view", "add"],
    "segment": ["view", "add", "change", "delete"],
    "contactimport": ["view", "add"],
    "contactimportrejectedrow": ["view"],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them now so the groups
    # can reference them on a fresh database.
    app_config = apps.get_app_config("contacts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, grants in (
        ("Compliance", COMPLIANCE_PERMISSIONS),
        ("Marketing", MARKETING_PERMISSIONS),
    ):
        group, _ = Group.objects.get_or_create(name=group_name)
        codenames = [f"{verb}_{model}" for model, verbs in grants.items() for verb in verbs]
        permissions = Permission.objects.filter(
            content_type__app_label="contacts", codename__in=codenames
        )
        assert permissions.count() == len(codenames), "a contacts permission is missing"
        group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0002_consent_ledger_append_only_trigger"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
