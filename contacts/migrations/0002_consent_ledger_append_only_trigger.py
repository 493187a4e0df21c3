"""On PostgreSQL, refuse UPDATE and DELETE of consent records in the database itself.

The model and queryset already refuse them; the trigger also stops raw SQL and anything that
bypasses the ORM. TRUNCATE (used only by test-suite flushes) is not a row operation and still works.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION contacts_consentrecord_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'contacts_consentrecord is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER contacts_consentrecord_append_only
    BEFORE UPDATE OR DELETE ON contacts_consentrecord
    FOR EACH ROW EXECUTE FUNCTION contacts_consentrecord_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS contacts_consentrecord_append_only ON contacts_consentrecord;
DROP FUNCTION IF EXISTS contacts_consentrecord_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_contacts_consent_ledger_segments_imports")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
