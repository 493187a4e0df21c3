"""Give the Compliance (read-only) and Marketing groups their template permissions.

Compliance audits: it sees accounts, numbers, templates and their status history. Marketing runs
campaigns: it manages templates (drafts, submission, sync) and sees the rest. The status history
is a ledger written by the services only, so nobody gets to add, change or delete it.
"""

from django.db import migrations

from contacts.group_grants import grant_operation

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {
    "Compliance": {
        "whatsappaccount": ["view"],
        "sendernumber": ["view"],
        "messagetemplate": ["view"],
        "templatestatuschange": ["view"],
    },
    "Marketing": {
        "whatsappaccount": ["view"],
        "sendernumber": ["view"],
        "messagetemplate": ["view", "add", "change", "delete"],
        "templatestatuschange": ["view"],
    },
}


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0003_compliance_and_marketing_groups"),
        ("templates_app", "0002_message_templates_and_status_history"),
    ]

    operations = [grant_operation("templates_app", GRANTS)]
