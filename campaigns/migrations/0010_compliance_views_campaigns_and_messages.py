"""Let the Compliance (read-only) group see campaigns and the message ledger with its status
events: what the message audit export and the dashboard's message panels need. View only."""

from django.db import migrations

from contacts.group_grants import grant_operation

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {"Compliance": {"campaign": ["view"], "message": ["view"], "messagestatusevent": ["view"]}}


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0003_compliance_and_marketing_groups"),
        ("campaigns", "0009_message_operations_indexes"),
    ]

    operations = [grant_operation("campaigns", GRANTS)]
