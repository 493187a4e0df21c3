"""Reads of the contacts app: consent answers, segments, chunked audiences, audit queries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from contacts.erasure import phone_hash
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    ConsentScope,
    Contact,
    RequiredConsent,
    Segment,
)
from contacts.phones import InvalidPhoneNumber, normalise_phone

# Template categories as Meta names them, mapped to the consent scope each one needs.
MARKETING = "MARKETING"
UTILITY = "UTILITY"
AUTHENTICATION = "AUTHENTICATION"
CATEGORY_SCOPES = {
    MARKETING: ConsentScope.MARKETING,
    UTILITY: ConsentScope.UTILITY,
    AUTHENTICATION: ConsentScope.UTILITY,
}
# The denormalised column on Contact that holds the current opt-in for each scope.
SCOPE_COLUMNS = {
    ConsentScope.MARKETING: "marketing_consent",
    ConsentScope.UTILITY: "utility_consent",
}


# --- Consent ------------------------------------------------------------------------------------


def contacts_consent_for_category(
    *, contact_ids: Iterable[int], category: str, at: datetime | None = None
) -> dict[int, int]:
    """Which of these contacts may receive a template of `category`, and on which consent.

    Returns ``{contact_id: consent_record_id}`` for every contact that may be sent a message of
    template category ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``, mapped to the opt-in
    `ConsentRecord` relied on; contacts that may not are absent. One query for the whole chunk.

    MARKETING needs marketing consent; UTILITY and AUTHENTICATION need utility consent. For each,
    the latest record (by `captured_at`, then id) among records of that scope and of `all` decides:
    an opt-in allows, an opt-out forbids, so an opt-out of `all` blocks everything until a later
    opt-in. Erased contacts never qualify.

    With `at` unset the answer is "now", read from the contact's current-consent columns, which the
    consent services keep in step with the ledger in the same transaction. With `at` set (an audit:
    "could we send at 10:02 last Tuesday?") it is derived from the ledger as it stood then, counting
    only records both captured and recorded by `at`.
    """
    try:
        scope = CATEGORY_SCOPES[category.upper()]
    except KeyError:
        raise ValueError(f"unknown template category {category!r}") from None
    ids = list(contact_ids)
    if not ids:
        return {}
    if at is None:
        column = SCOPE_COLUMNS[scope]
        rows = Contact.objects.filter(
            pk__any=ids, erased_at__isnull=True, **{f"{column}__isnull": False}
        ).values_list("pk", f"{column}_id")
        return dict(rows)
    states = consent_states_from_ledger(contact_ids=ids, at=at, scopes=(scope,))
    return {
        contact_id: state[scope] for contact_id, state in states.items() if state[scope] is not None
    }


def _latest_record(scope: str, *, contact: OuterRef, at: datetime | None) -> QuerySet:
    records = ConsentRecord.objects.filter(contact=contact, scope__in=[scope, ConsentScope.ALL])
    if at is not None:
        records = records.filter(captured_at__lte=at, recorded_at__lte=at)
    return records.order_by("-captured_at", "-id")


def consent_states_from_ledger(
    *,
    contact_ids: Iterable[int],
    at: datetime | None = None,
    scopes: Iterable[str] = (ConsentScope.MARKETING, ConsentScope.UTILITY),
) -> dict[int, dict[str, int | None]]:
    """The consent each contact has per scope according to the ledger alone (one query).

    ``{contact_id: {"marketing": opt_in_record_id | None, "utility": ...}}``; erased contacts have
    None everywhere. This is the definition the current-consent columns must agree with.
    """
    annotations = {}
    for scope in scopes:
        latest = _latest_record(scope, contact=OuterRef("pk"), at=at)
        annotations[f"{scope}_id"] = Subquery(latest.values("pk")[:1])
        annotations[f"{scope}_action"] = Subquery(latest.values("action")[:1])
    rows = (
        Contact.objects.filter(pk__in=list(contact_ids))
        .order_by()
        .annotate(**annotations)
        .values("pk", "erased_at", *annotations)
    )
    states: dict[int, dict[str, int | None]] = {}
    for row in rows:
        states[row["pk"]] = {
            scope: row[f"{scope}_id"]
            if row["erased_at"] is None and row[f"{scope}_action"] == ConsentAction.OPT_IN
            else None
            for scope in scopes
        }
    return states


def current_consent_expressions() -> dict[str, Subquery]:
    """Update expressions that recompute the current-consent columns of contacts from the ledger."""
    expressions = {}
    for scope, column in SCOPE_COLUMNS.items():
        latest_id = Subquery(
            _latest_record(scope, contact=OuterRef(OuterRef("pk")), at=None).values("pk")[:1]
        )
        expressions[column] = Subquery(
            ConsentRecord.objects.filter(pk=latest_id, action=ConsentAction.OPT_IN).values("pk")[:1]
        )
    return expressions


def contact_consent_timeline(*, contact: Contact) -> QuerySet[ConsentRecord]:
    """Every consent record of a contact, newest first, as an auditor reads it."""
    return ConsentRecord.objects.filter(contact=contact).select_related("recorded_by")


def consent_records_for_audit(
    *,
    captured_from: datetime | None = None,
    captured_to: datetime | None = None,
    scope: str = "",
    action: str = "",
    source: str = "",
) -> QuerySet[ConsentRecord]:
    """Consent records for the audit export, oldest first; `captured_to` is exclusive."""
    records = ConsentRecord.objects.select_related("contact", "recorded_by").order_by(
        "captured_at", "id"
    )
    if captured_from:
        records = records.filter(captured_at__gte=captured_from)
    if captured_to:
        records = records.filter(captured_at__lt=captured_to)
    if scope:
        records = records.filter(scope=scope)
    if action:
        records = records.filter(action=action)
    if source:
        records = records.filter(source=source)
    return records


# --- Contacts -----------------------------------------------------------------------------------


def phone_was_erased(phone: str) -> bool:
    """Whether this number belonged to a contact that has been erased (any input format)."""
    try:
        e164 = normalise_phone(phone)
    except InvalidPhoneNumber:
        return False
    return Contact.objects.filter(erased_phone_hash=phone_hash(e164)).exists()


def contact_find_by_whatsapp(*, phone: str | None, user_id: str | None) -> Contact | None:
    """The contact with this phone, else the one with this WhatsApp user id (never erased ones).

    The phone wins when the two identify different contacts: campaigns send to phone numbers, so
    that is the contact whose consent an inbound opt-out must change.
    """
    if phone:
        contact = Contact.objects.filter(phone=phone).first()
        if contact:
            return contact
    if user_id:
        return Contact.objects.filter(whatsapp_user_id=user_id).first()
    return None


def contacts_with_tag(queryset: QuerySet[Contact], names: Iterable[str]) -> QuerySet[Contact]:
    """Contacts having any of these tags."""
    through = Contact.tags.through
    return queryset.filter(
        Exists(
            through.objects.filter(
                contact_id=OuterRef("pk"), tag__name__in=[name.lower() for name in names]
            )
        )
    )


# --- Segments -----------------------------------------------------------------------------------


def segment_contacts(segment: Segment) -> QuerySet[Contact]:
    """The contacts a segment describes right now, as one queryset (ordered by id).

    Works for unsaved segments too (the admin and API preview definitions before saving). Erased
    contacts are never included. Iterate large audiences with `iter_id_chunks`.
    """
    contacts = Contact.objects.filter(erased_at__isnull=True)
    through = Contact.tags.through
    if segment.tags_any:
        contacts = contacts_with_tag(contacts, segment.tags_any)
    for name in segment.tags_all or []:
        contacts = contacts.filter(
            Exists(through.objects.filter(contact_id=OuterRef("pk"), tag__name=name.lower()))
        )
    if segment.languages:
        language_match = Q()
        for locale in segment.languages:
            language_match |= Q(language=locale)
            if "_" not in locale:
                language_match |= Q(language__startswith=f"{locale}_")
        contacts = contacts.filter(language_match)
    for index, rule in enumerate(segment.attribute_rules or []):
        aliases, condition = _attribute_rule(index, rule)
        contacts = contacts.alias(**aliases).filter(condition)
    if segment.created_after:
        contacts = contacts.filter(created_at__gte=segment.created_after)
    if segment.created_before:
        contacts = contacts.filter(created_at__lt=segment.created_before)
    if segment.required_consent in {RequiredConsent.MARKETING, RequiredConsent.ALL}:
        contacts = contacts.filter(marketing_consent__isnull=False)
    if segment.required_consent in {RequiredConsent.UTILITY, RequiredConsent.ALL}:
        contacts = contacts.filter(utility_consent__isnull=False)
    return contacts.order_by("pk")


def _attribute_rule(index: int, rule: dict) -> tuple[dict[str, Any], Q]:
    """One attribute rule: the aliases it needs on the contacts queryset, and its condition."""
    text, as_json = f"attribute_text_{index}", f"attribute_json_{index}"
    aliases: dict[str, Any] = {text: KeyTextTransform(rule["key"], "attributes")}
    value = rule["value"]
    if rule["operator"] == "contains":
        return aliases, Q(**{f"{text}__icontains": str(value)})
    if isinstance(value, str):
        return aliases, Q(**{text: value})
    # A number or true/false matches the same JSON value, or text spelling it (imports store
    # every attribute as text: "120", "true").
    aliases[as_json] = KeyTransform(rule["key"], "attributes")
    spelled = json.dumps(value)
    by_text = Q(**{f"{text}__iexact": spelled}) if isinstance(value, bool) else Q(**{text: spelled})
    return aliases, by_text | Q(**{as_json: value})


def iter_id_chunks(queryset: QuerySet, size: int = 1000) -> Iterator[list[int]]:
    """Yield the ids of `queryset` in ascending lists of at most `size`, by keyset pagination.

    Each chunk is one query (``WHERE id > last ORDER BY id LIMIT size``) that fetches ids only, so
    an audience of millions is never held in memory and chunks stay fast however deep they go.
    Rows added behind the cursor during iteration are not revisited.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    ids = queryset.order_by("pk").values_list("pk", flat=True)
    last = None
    while True:
        page = ids.filter(pk__gt=last) if last is not None else ids
        chunk = list(page[:size])
        if not chunk:
            return
        yield chunk
        if len(chunk) < size:
            return
        last = chunk[-1]


def tags_by_contact(contact_ids: Iterable[int]) -> dict[int, list[str]]:
    through = Contact.tags.through
    result: dict[int, list[str]] = {}
    rows = through.objects.filter(contact_id__in=list(contact_ids)).values_list(
        "contact_id", "tag__name"
    )
    for contact_id, name in rows.order_by("contact_id", "tag__name"):
        result.setdefault(contact_id, []).append(name)
    return result
