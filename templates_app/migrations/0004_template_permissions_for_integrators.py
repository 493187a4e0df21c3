"""Integrators see accounts, sender numbers and templates (to send them); Marketing manages them."""

from django.db import migrations

from contacts.group_grants import grant_operation

# Frozen here: a migration must not change meaning when the roles change later.
GRANTS = {
    "Integrator": {
        "whatsappaccount": ["view"],
        "sendernumber": ["view"],
        "messagetemplate": ["view"],
        "templatestatuschange": ["view"],
    },
}


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_integrator_and_data_protection_groups"),
        ("templates_app", "0003_template_permissions_for_roles"),
    ]

    operations = [grant_operation("templates_app", GRANTS)]
