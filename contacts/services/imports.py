"""CSV import services: store an upload and run its import."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from contacts import importing
from contacts.csv_files import ImportFileError, inspect_file
from contacts.errors import ContactError
from contacts.models import (
    ContactImport,
    ContactImportFileChunk,
)
from contacts.phones import is_valid_region

FILE_CHUNK_BYTES = 1024 * 1024


def contact_import_create(
    *,
    file: IO[bytes],
    file_name: str,
    uploaded_by: Any = None,
    default_region: str | None = None,
    queue: bool = True,
) -> ContactImport:
    """Store an uploaded CSV file in the database and queue its import (after commit).

    The header is checked now, so a file with no phone column (or not a CSV at all, or empty) is
    refused at once and nothing is stored; everything else is reported by the import itself.
    With `queue` false the caller runs `contact_import_process` itself (a command, a benchmark).
    """
    region = (default_region or settings.TIDINGS_DEFAULT_PHONE_REGION).upper()
    if not is_valid_region(region):
        raise ContactError(f"{region!r} is not a country code.", field="default_region")
    limit = settings.TIDINGS_IMPORT_MAX_FILE_BYTES
    digest = hashlib.sha256()
    with transaction.atomic():
        contact_import = ContactImport.objects.create(
            file_name=(file_name or "upload.csv")[:255],
            default_region=region,
            uploaded_by=uploaded_by,
        )
        size = index = 0
        while chunk := file.read(FILE_CHUNK_BYTES):
            if index == 0:
                try:
                    inspect_file([chunk], header_only=True)
                except ImportFileError:
                    transaction.set_rollback(True)
                    raise
            size += len(chunk)
            if size > limit:
                raise ContactError(
                    f"The file is larger than {limit // (1024 * 1024)} MB; split it.",
                    field="file",
                    code="file_too_large",
                )
            digest.update(chunk)
            ContactImportFileChunk.objects.create(
                contact_import=contact_import, index=index, data=chunk
            )
            index += 1
        if not size:
            raise ImportFileError("The file is empty.")
        contact_import.file_size = size
        contact_import.file_sha256 = digest.hexdigest()
        contact_import.save(update_fields=["file_size", "file_sha256", "updated_at"])
        if queue:
            from contacts.tasks import contact_import_run

            transaction.on_commit(partial(contact_import_run.delay, contact_import.pk))
    return contact_import


def contact_import_process(
    *, contact_import_id: int, on_outcomes: importing.OutcomeCallback | None = None
) -> ContactImport | None:
    """Run a queued import to the end; safe to call twice (a second call finds nothing to do).

    `on_outcomes` receives every batch's per-row outcomes (created, updated, unchanged, rejected
    with a reason); the import itself keeps the counts and the rejected rows.
    """
    contact_import = importing.claim(contact_import_id)
    if contact_import is None:
        return None
    try:
        importing.run(contact_import, on_outcomes=on_outcomes)
    except Exception as error:
        importing.fail_unexpectedly(contact_import_id, error)
        raise
    contact_import.refresh_from_db()
    return contact_import
