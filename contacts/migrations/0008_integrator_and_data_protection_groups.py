"""Create the Integrator (API only) and Data protection (erasure) groups; see contacts/roles.py.

Integrators are systems that call the REST API with a token: they keep contacts, consent,
segments and imports in step with the customer's own systems. Data protection handles erasure
requests, which Marketing must not be able to do (erasure is irreversible).
"""

from django.db import migrations

from contacts.group_grants import grant_operation

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


def revoke(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=CREATED_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0007_contact_import_merged_count"),
    ]

    operations = [grant_operation("contacts", GRANTS, reverse=revoke)]
