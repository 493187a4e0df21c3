"""Models of the contacts app.

Other apps rely on `Contact`, `ConsentRecord` (with `ConsentAction`, `ConsentScope`,
`ConsentSource`) and `Segment` by these names.
"""

from __future__ import annotations

from contacts.models.consent import (
    ConsentAction,
    ConsentLedgerIsAppendOnly,
    ConsentRecord,
    ConsentRecordQuerySet,
    ConsentScope,
    ConsentSource,
)
from contacts.models.contacts import E164_REGEX, Contact, ContactQuerySet, Tag
from contacts.models.imports import (
    ContactImport,
    ContactImportFileChunk,
    ContactImportRejectedRow,
    ContactImportStatus,
)
from contacts.models.segments import RequiredConsent, Segment

__all__ = [
    "E164_REGEX",
    "ConsentAction",
    "ConsentLedgerIsAppendOnly",
    "ConsentRecord",
    "ConsentRecordQuerySet",
    "ConsentScope",
    "ConsentSource",
    "Contact",
    "ContactImport",
    "ContactImportFileChunk",
    "ContactImportRejectedRow",
    "ContactImportStatus",
    "ContactQuerySet",
    "RequiredConsent",
    "Segment",
    "Tag",
]
