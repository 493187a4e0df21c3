"""Give the groups their campaigns permissions, and create the Campaign launchers group.

Marketing authors campaigns (drafts, dry runs, tests to contacts, pause, cancel, retry) and data
sources, and reads the message ledger; launching (schedule, start, resume, a test to a staff
number) is `launch_campaign`, which only Campaign launchers have: one person prepares a send,
another approves it (four-eyes). Integrators author campaigns and send one-off (transactional)
messages through the API, and do not launch either. Compliance reads everything.
"""

from django.db import migrations

from contacts.group_grants import grant_operation, group_permissions_revoke

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


def revoke(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=CREATED_GROUPS).delete()
    group_permissions_revoke(apps, "campaigns", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0008_integrator_and_data_protection_groups"),
        ("campaigns", "0010_compliance_views_campaigns_and_messages"),
    ]

    operations = [grant_operation("campaigns", GRANTS, reverse=revoke)]
