"""Give the roles their subscription permissions.

Integrator and Marketing manage subscriptions (create, change, delete, test, see the secret) and
read the delivery log and events; Compliance reads everything, changes nothing. Nobody gets to
write deliveries, attempts or events: only the services do. The Integrator group is created here
when no earlier migration did.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
_READ = {"delivery": ["view"], "deliveryattempt": ["view"], "event": ["view"]}
GRANTS = {
    "Compliance": {"subscription": ["view"], **_READ},
    "Marketing": {"subscription": ["view", "add", "change", "delete"], **_READ},
    "Integrator": {"subscription": ["view", "add", "change", "delete"], **_READ},
}


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{verb}_{model}" for model, verbs in grants.items() for verb in verbs]
    permissions = Permission.objects.filter(
        content_type__app_label="subscriptions", codename__in=codenames
    )
    assert permissions.count() == len(codenames), "a subscriptions permission is missing"
    return permissions


def grant(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them now so the groups
    # can reference them on a fresh database.
    app_config = apps.get_app_config("subscriptions")
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
        ("contacts", "0008_integrator_and_data_protection_groups"),
        ("subscriptions", "0001_subscriptions_events_deliveries"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
