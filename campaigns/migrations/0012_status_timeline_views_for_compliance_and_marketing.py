"""Let Compliance (read-only everywhere) and Marketing read each campaign's status timeline: who
launched, paused, resumed or cancelled it, and when."""

from django.db import migrations

from contacts.group_grants import grant_operation

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {
    "Compliance": {"campaignstatuschange": ["view"]},
    "Marketing": {"campaignstatuschange": ["view"]},
}


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0011_campaign_permissions_for_roles"),
    ]

    operations = [grant_operation("campaigns", GRANTS)]
