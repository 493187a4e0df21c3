"""Compliance reads everything Meta's webhooks brought; Marketing reads the replies."""

from django.db import migrations

from contacts.group_grants import grant_operation

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


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0003_compliance_and_marketing_groups"),
        ("webhooks", "0002_inbound_message_consent_reply"),
    ]

    operations = [grant_operation("webhooks", GRANTS)]
