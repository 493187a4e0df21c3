"""Fill in `wa_id` for contacts that imports and bulk upserts created without one."""

from django.db import migrations
from django.db.models.functions import Substr


def backfill_wa_id(apps, schema_editor):
    Contact = apps.get_model("contacts", "Contact")
    Contact.objects.filter(phone__isnull=False, wa_id="").update(wa_id=Substr("phone", 2))


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0005_consent_source_whatsapp_preference"),
    ]

    operations = [migrations.RunPython(backfill_wa_id, migrations.RunPython.noop)]
