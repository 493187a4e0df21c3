"""Create the Integrator (API only) and Data protection (erasure) groups; see contacts/roles.py.

Integrators are systems that call the REST API with a token: they keep contacts, consent,
segments and imports in step with the customer's own systems. Data protection handles erasure
requests, which Marketing must not be able to do (erasure is irreversible).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {
    "Integrator": {
        "contact": ["view", "add", "change"],
        "tag": ["view"],
        "consentrecord": ["view", "add"],
        "segment": ["view", "add", "change", "delete"],
        "contactimport": ["view", "add"],
        "contactimportrejectedrow": ["view"],
    },
    "Data protection": {
        "contact": ["view", "erase"],
        "consentrecord": ["view"],
    },
}
CREATED_GROUPS = ("Integrator", "Data protection")


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{verb}_{model}" for model, verbs in grants.items() for verb in verbs]
    permissions = Permission.objects.filter(
        content_type__app_label="contacts", codename__in=codenames
    )
    assert permissions.count() == len(codenames), "a contacts permission is missing"
    return permissions


def grant(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them now so the groups
    # can reference them on a fresh database.
    app_config = apps.get_app_config("contacts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for group_name, grants in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(apps, grants))


def revoke(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=CREATED_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0007_contact_import_merged_count"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
