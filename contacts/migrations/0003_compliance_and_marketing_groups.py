"""Create the Compliance (read-only) and Marketing groups; see contacts/roles.py for the why."""

from django.db import migrations

from contacts.group_grants import grant_operation

# Frozen copies of contacts.roles at the time of this migration: a migration must not change
# meaning when the module does.
GRANTS = {
    "Compliance": {
        "contact": ["view"],
        "tag": ["view"],
        "consentrecord": ["view"],
        "segment": ["view"],
        "contactimport": ["view"],
        "contactimportrejectedrow": ["view"],
    },
    "Marketing": {
        "contact": ["view", "add", "change"],
        "tag": ["view", "add", "change"],
        "consentrecord": ["view", "add"],
        "segment": ["view", "add", "change", "delete"],
        "contactimport": ["view", "add"],
        "contactimportrejectedrow": ["view"],
    },
}


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0002_consent_ledger_append_only_trigger"),
    ]

    operations = [grant_operation("contacts", GRANTS, reverse=migrations.RunPython.noop)]
