"""Writes and business rules of the contacts app.

Every function here is keyword-only, runs in a transaction, and raises `ContactError` with a
message for people when a rule refuses the request. Other apps call these by name:
`consent_record_opt_in`, `consent_record_opt_out`, `contact_upsert`,
`contact_find_or_create_from_whatsapp`, `contacts_record_whatsapp_user_ids`,
`contact_record_inbound`, `contact_erase`.
"""

from __future__ import annotations

from contacts.errors import ContactError
from contacts.services.consent import (
    consent_record_opt_in,
    consent_record_opt_out,
    contacts_refresh_current_consent,
)
from contacts.services.contacts import (
    BULK_UPSERT_LIMIT,
    contact_create,
    contact_erase,
    contact_find_or_create_from_whatsapp,
    contact_record_inbound,
    contact_update,
    contact_upsert,
    contacts_bulk_upsert,
    contacts_record_whatsapp_user_ids,
)
from contacts.services.imports import contact_import_create, contact_import_process
from contacts.services.segments import (
    segment_check_definition,
    segment_create,
    segment_delete,
    segment_update,
)

__all__ = [
    "BULK_UPSERT_LIMIT",
    "ContactError",
    "consent_record_opt_in",
    "consent_record_opt_out",
    "contact_create",
    "contact_erase",
    "contact_find_or_create_from_whatsapp",
    "contact_import_create",
    "contact_import_process",
    "contact_record_inbound",
    "contact_update",
    "contact_upsert",
    "contacts_bulk_upsert",
    "contacts_record_whatsapp_user_ids",
    "contacts_refresh_current_consent",
    "segment_check_definition",
    "segment_create",
    "segment_delete",
    "segment_update",
]
