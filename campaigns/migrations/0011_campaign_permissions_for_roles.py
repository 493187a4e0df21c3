"""Give the groups their campaigns permissions, and create the Campaign launchers group.

Marketing authors campaigns (drafts, dry runs, tests to contacts, pause, cancel, retry) and data
sources, and reads the message ledger; launching (schedule, start, resume, a test to a staff
number) is `launch_campaign`, which only Campaign launchers have: one person prepares a send,
another approves it (four-eyes). Integrators author campaigns and send one-off (transactional)
messages through the API, and do not launch either. Compliance reads everything.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here: a migration must not change meaning when the roles change later.
EVERY_MODEL = (
    "campaign",
    "datasource",
    "trackedlink",
    "message",
    "messagestatusevent",
    "campaignprogresscount",
)
GRANTS = {
    "Compliance": {model: ["view"] for model in EVERY_MODEL},
    "Marketing": {
        **{model: ["view"] for model in EVERY_MODEL},
        "campaign": ["view", "add", "change", "delete"],
        "datasource": ["view", "add", "change", "delete"],
    },
    "Integrator": {
        "campaign": ["view", "add", "change", "delete"],
        "datasource": ["view"],
        "message": ["view", "add"],
        "messagestatusevent": ["view"],
    },
    "Campaign launchers": {"campaign": ["view", "launch"]},
}
CREATED_GROUPS = ("Campaign launchers",)


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{verb}_{model}" for model, verbs in grants.items() for verb in verbs]
    permissions = Permission.objects.filter(
        content_type__app_label="campaigns", codename__in=codenames
    )
    assert permissions.count() == len(codenames), "a campaigns permission is missing"
    return permissions


def grant(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; create them now so the groups
    # can reference them on a fresh database.
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for group_name, grants in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(apps, grants))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=CREATED_GROUPS).delete()
    for group_name, grants in GRANTS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, grants))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0008_integrator_and_data_protection_groups"),
        ("campaigns", "0010_compliance_views_campaigns_and_messages"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
