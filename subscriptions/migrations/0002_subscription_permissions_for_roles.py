"""Give the roles their subscription permissions.

Integrator and Marketing manage subscriptions (create, change, delete, test, see the secret) and
read the delivery log and events; Compliance reads everything, changes nothing. Nobody gets to
write deliveries, attempts or events: only the services do. The Integrator group is created here
when no earlier migration did.
"""

from django.db import migrations

from contacts.group_grants import grant_operation

# Frozen here: a migration must not change meaning when the roles change later.
_READ = {"delivery": ["view"], "deliveryattempt": ["view"], "event": ["view"]}
GRANTS = {
    "Compliance": {"subscription": ["view"], **_READ},
    "Marketing": {"subscription": ["view", "add", "change", "delete"], **_READ},
    "Integrator": {"subscription": ["view", "add", "change", "delete"], **_READ},
}


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0008_integrator_and_data_protection_groups"),
        ("subscriptions", "0001_subscriptions_events_deliveries"),
    ]

    operations = [grant_operation("subscriptions", GRANTS)]
