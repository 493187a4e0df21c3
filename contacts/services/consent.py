"""Consent services: append opt-ins and opt-outs to the ledger, keeping current consent in step."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from contacts import validation
from contacts.errors import ContactError
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
)
from contacts.selectors import current_consent_expressions


def consent_record_opt_in(
    *,
    contact: Contact,
    scope: str,
    source: str,
    evidence: str,
    captured_at: datetime,
    recorded_by: Any = None,
    recorded_via: str = "",
    ip_address: str | None = None,
    user_agent: str | None = None,
    policy_version: str = "",
) -> ConsentRecord:
    """Append an opt-in to the ledger; refused without evidence, in the future or when erased."""
    if not validation.evidence(evidence):
        raise ContactError(
            "An opt-in needs evidence: the form id, URL, screenshot reference or message id that "
            "proves it.",
            field="evidence",
            code="evidence_required",
        )
    return _record_consent(
        contact=contact,
        action=ConsentAction.OPT_IN,
        scope=validation.consent_scope(scope),
        source=validation.consent_source(source),
        evidence=validation.evidence(evidence),
        captured_at=validation.captured_at(captured_at),
        recorded_by=recorded_by,
        recorded_via=recorded_via,
        ip_address=ip_address,
        user_agent=user_agent,
        policy_version=policy_version,
    )


def consent_record_opt_out(
    *,
    contact: Contact,
    scope: str,
    source: str,
    evidence: str = "",
    captured_at: datetime | None = None,
    recorded_by: Any = None,
    recorded_via: str = "",
    ip_address: str | None = None,
    user_agent: str | None = None,
    policy_version: str = "",
) -> ConsentRecord:
    """Append an opt-out to the ledger. Honouring an opt-out never fails on its circumstances:
    evidence is optional, a missing or future `captured_at` becomes now, erased contacts accept it.
    """
    now = timezone.now()
    if captured_at is None or captured_at > now:
        captured_at = now
    return _record_consent(
        contact=contact,
        action=ConsentAction.OPT_OUT,
        scope=validation.consent_scope(scope),
        source=validation.consent_source(source),
        evidence=(evidence or "").strip()[:2000],
        captured_at=validation.captured_at(captured_at),
        recorded_by=recorded_by,
        recorded_via=recorded_via,
        ip_address=ip_address,
        user_agent=user_agent,
        policy_version=policy_version,
    )


def _record_consent(*, contact: Contact, action: str, **values: Any) -> ConsentRecord:
    values["user_agent"] = (values["user_agent"] or "")[:500]
    values["policy_version"] = (values["policy_version"] or "")[:64]
    values["recorded_via"] = (values["recorded_via"] or "")[:200]
    with transaction.atomic():
        # Lock the contact so concurrent consent changes apply one after the other and the
        # current-consent columns always match the ledger's latest records.
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.erased_at and action == ConsentAction.OPT_IN:
            raise ContactError("This contact was erased and can never be messaged again.")
        record = ConsentRecord.objects.create(contact=locked, action=action, **values)
        contacts_refresh_current_consent(contact_ids=[locked.pk])
    contact.refresh_from_db(fields=["marketing_consent", "utility_consent"])
    return record


def contacts_refresh_current_consent(*, contact_ids: Iterable[int]) -> int:
    """Recompute the current-consent columns of these contacts from the ledger (one UPDATE)."""
    return Contact.objects.filter(pk__in=list(contact_ids), erased_at__isnull=True).update(
        **current_consent_expressions()
    )
