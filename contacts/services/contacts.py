"""Contact services: create, update, upsert in bulk, match inbound WhatsApp users, erase."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from contacts import validation
from contacts.duplicates import merge_duplicates
from contacts.erasure import erasure_steps, phone_hash
from contacts.errors import ContactError
from contacts.models import (
    ConsentAction,
    ConsentScope,
    ConsentSource,
    Contact,
    ContactImportRejectedRow,
    Tag,
)
from contacts.phones import InvalidPhoneNumber, normalise_wa_id
from contacts.upserting import (
    REJECTED,
    ConsentInput,
    ContactInput,
    RowOutcome,
    upsert_contacts,
)

BULK_UPSERT_LIMIT = 1000
_CONTACT_FIELDS = ("phone", "whatsapp_user_id", "name", "external_id", "language", "timezone")


def contact_create(
    *,
    phone: str | None = None,
    whatsapp_user_id: str | None = None,
    name: str = "",
    external_id: str | None = None,
    language: str = "",
    timezone: str = "",
    attributes: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    default_region: str | None = None,
    returning_after_erasure: bool = False,
) -> Contact:
    """Create one contact (no consent: record that separately, with its evidence).

    A number whose contact was erased is refused unless `returning_after_erasure` says the
    person asked to be added again.
    """
    values = _clean_contact_values(
        {
            "phone": phone,
            "whatsapp_user_id": whatsapp_user_id,
            "name": name,
            "external_id": external_id,
            "language": language,
            "timezone": timezone,
            "attributes": attributes,
        },
        default_region=default_region,
    )
    if not values.get("phone") and not values.get("whatsapp_user_id"):
        raise ContactError("A contact needs a phone number.", field="phone", code="required")
    tag_names = validation.tag_names(list(tags))
    if not returning_after_erasure:
        _refuse_erased_number(values.get("phone"))
    with transaction.atomic():
        _check_unique(values, exclude_pk=None)
        contact = _save_or_explain(Contact(**values))
        _set_tags(contact, tag_names)
    return contact


def contact_update(*, contact: Contact, **changes: Any) -> Contact:
    """Change the given fields (tags are replaced when given); erased contacts cannot change."""
    allowed = {*_CONTACT_FIELDS, "attributes", "tags", "default_region", "returning_after_erasure"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"contact_update() got unexpected fields {sorted(unknown)}")
    default_region = changes.pop("default_region", None)
    returning_after_erasure = changes.pop("returning_after_erasure", False)
    tag_names = validation.tag_names(changes.pop("tags")) if "tags" in changes else None
    values = _clean_contact_values(changes, default_region=default_region)
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.erased_at:
            raise ContactError("This contact was erased and cannot be changed.", code="erased")
        if values.get("phone") != locked.phone and not returning_after_erasure:
            _refuse_erased_number(values.get("phone"))
        _check_unique(values, exclude_pk=locked.pk)
        for name, value in values.items():
            setattr(locked, name, value)
        if not locked.phone and not locked.whatsapp_user_id:
            raise ContactError("A contact needs a phone number.", field="phone", code="required")
        _save_or_explain(locked)
        if tag_names is not None:
            _set_tags(locked, tag_names)
    return locked


def contact_upsert(
    *,
    data: Mapping[str, Any],
    recorded_by: Any = None,
    recorded_via: str = "",
    default_region: str | None = None,
) -> RowOutcome:
    """Create or update one contact matched by phone or external_id, with import semantics:
    given values win, empty ones change nothing, tags are added, a `consent` item is appended.
    """
    return contacts_bulk_upsert(
        items=[data],
        recorded_by=recorded_by,
        recorded_via=recorded_via,
        default_region=default_region,
    )[0]


def contacts_bulk_upsert(
    *,
    items: list[Mapping[str, Any]],
    recorded_by: Any = None,
    recorded_via: str = "",
    default_region: str | None = None,
) -> list[RowOutcome]:
    """Upsert up to 1,000 contacts at once; one outcome per item (`row` is the item's index).

    Items are mappings with the keys of `contact_create` plus an optional ``consent`` mapping
    (action, scope, source, evidence, captured_at, policy_version), matched on phone, WhatsApp
    user id or external_id. A bad item is rejected with its reason and never stops the others;
    items naming the same person are merged.
    """
    if len(items) > BULK_UPSERT_LIMIT:
        raise ContactError(
            f"At most {BULK_UPSERT_LIMIT} contacts per request (got {len(items)}).", code="too_many"
        )
    inputs: list[ContactInput] = []
    outcomes: list[RowOutcome] = []
    for index, item in enumerate(items):
        try:
            inputs.append(_contact_input(index, item, default_region))
        except ContactError as error:
            outcomes.append(RowOutcome(index, REJECTED, None, error.message))
    if inputs:
        outcomes += upsert_contacts(
            merge_duplicates(inputs),
            recorded_by=recorded_by,
            recorded_via=recorded_via,
            row_word="item",
        )
    return sorted(outcomes, key=lambda outcome: outcome.row)


def _contact_input(index: int, item: Mapping[str, Any], default_region: str | None) -> ContactInput:
    if not isinstance(item, Mapping):
        raise ContactError("Each contact must be an object.")
    raw_phone = item.get("phone")
    phone = validation.phone(raw_phone, default_region=default_region) if raw_phone else None
    external_id = validation.external_id(item.get("external_id"))
    whatsapp_user_id = validation.whatsapp_user_id(item.get("whatsapp_user_id"))
    if not phone and not external_id and not whatsapp_user_id:
        raise ContactError("Give a phone or an external_id.", field="phone")
    consent = item.get("consent")
    return ContactInput(
        rows=[index],
        phone=phone,
        whatsapp_user_id=whatsapp_user_id,
        external_id=external_id,
        name=validation.optional_text(item.get("name"), field="name", max_length=200),
        language=validation.language(item.get("language")),
        timezone=validation.timezone_name(item.get("timezone")),
        attributes=validation.attributes(item.get("attributes")),
        tags=validation.tag_names(item.get("tags")),
        consents=[_consent_input(consent, default_source=ConsentSource.API)] if consent else [],
    )


def _consent_input(data: Mapping[str, Any], *, default_source: str) -> ConsentInput:
    if not isinstance(data, Mapping):
        raise ContactError("consent must be an object.", field="consent")
    action = validation.consent_action(data.get("action"))
    source = validation.consent_source(data.get("source") or default_source)
    evidence = validation.evidence(data.get("evidence"))
    policy_version = validation.optional_text(
        data.get("policy_version"), field="policy_version", max_length=64
    )
    if action == ConsentAction.OPT_IN:
        if not evidence:
            raise ContactError("An opt-in needs evidence.", field="evidence")
        return ConsentInput(
            action,
            validation.consent_scope(data.get("scope")),
            source,
            evidence,
            validation.captured_at(data.get("captured_at")),
            policy_version,
        )
    captured = data.get("captured_at")
    return ConsentInput(
        action,
        validation.consent_scope(data.get("scope") or ConsentScope.ALL),
        source,
        evidence,
        validation.captured_at(captured) if captured else None,
        policy_version,
    )


def contact_find_or_create_from_whatsapp(
    *, wa_id: str | None, user_id: str | None, profile_name: str = ""
) -> Contact:
    """The contact an inbound WhatsApp message or status is about, created if unknown.

    Matches on the phone derived from `wa_id` or on the business-scoped `user_id` (either may be
    missing since Meta introduced usernames); the phone wins when they point at different
    contacts. Missing identifiers and the profile name are filled in on the match. A new contact
    has no consent: writing to a business is not an opt-in.
    """
    phone = None
    if wa_id:
        try:
            phone = normalise_wa_id(wa_id)
        except InvalidPhoneNumber as error:
            if not user_id:
                raise ContactError(f"WhatsApp id {error}.", field="wa_id") from error
    user_id = validation.whatsapp_user_id(user_id)
    if not phone and not user_id:
        raise ContactError("Need a wa_id or a user_id to find the contact.", field="wa_id")
    name = (profile_name or "").strip()[:200]
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _find_or_create_from_whatsapp(phone, user_id, name)
        except IntegrityError:
            # Another worker created the same person between our read and write: read again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _find_or_create_from_whatsapp(phone: str | None, user_id: str | None, name: str) -> Contact:
    identifies = Q(pk__in=[])
    if phone:
        identifies |= Q(phone=phone)
    if user_id:
        identifies |= Q(whatsapp_user_id=user_id)
    candidates = list(Contact.objects.select_for_update().filter(identifies).order_by("pk"))
    by_phone = next((c for c in candidates if phone and c.phone == phone), None)
    by_user_id = next((c for c in candidates if user_id and c.whatsapp_user_id == user_id), None)
    contact = by_phone or by_user_id
    if contact is None:
        return Contact.objects.create(
            phone=phone, wa_id=phone[1:] if phone else "", whatsapp_user_id=user_id, name=name
        )
    changed = []
    if phone and not contact.phone:
        contact.phone = phone  # free: no contact matched it
        changed.append("phone")
    if phone and contact.phone == phone and not contact.wa_id:
        contact.wa_id = phone[1:]
        changed.append("wa_id")
    if user_id and not contact.whatsapp_user_id and by_user_id is None:
        contact.whatsapp_user_id = user_id
        changed.append("whatsapp_user_id")
    if name and not contact.name:
        contact.name = name
        changed.append("name")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return contact


def contacts_record_whatsapp_user_ids(*, user_ids: Mapping[int, str]) -> int:
    """Store Meta's business-scoped user id on contacts that have none (a status webhook names
    the recipient's `recipient_user_id`), so later messages that carry only the user id match.

    Set-based (one read, then one update when something is new). A contact that has a user id
    keeps it, an erased contact stays anonymous, and an id that another contact already has, or
    that is named for two contacts, is left alone. Returns how many contacts were updated.
    """
    cleaned: dict[int, str] = {}
    for contact_id, user_id in user_ids.items():
        try:
            value = validation.whatsapp_user_id(user_id)
        except ContactError:
            continue
        if value:
            cleaned[contact_id] = value
    times_named = Counter(cleaned.values())
    cleaned = {pk: value for pk, value in cleaned.items() if times_named[value] == 1}
    if not cleaned:
        return 0
    rows = Contact.objects.filter(
        Q(pk__in=list(cleaned), whatsapp_user_id__isnull=True, erased_at__isnull=True)
        | Q(whatsapp_user_id__in=list(cleaned.values()))
    ).values_list("pk", "whatsapp_user_id")
    taken = {user_id for _, user_id in rows if user_id}
    updates = {
        pk: cleaned[pk] for pk, user_id in rows if user_id is None and cleaned[pk] not in taken
    }
    if not updates:
        return 0
    try:
        with transaction.atomic():
            return Contact.objects.filter(
                pk__in=list(updates), whatsapp_user_id__isnull=True
            ).update(
                whatsapp_user_id=Case(
                    *(When(pk=pk, then=Value(user_id)) for pk, user_id in updates.items())
                ),
                updated_at=timezone.now(),
            )
    except IntegrityError:
        # Another worker gave one of these ids to a contact meanwhile; the next status retries.
        return 0


def contact_record_inbound(*, contact_id: int, at: datetime) -> bool:
    """Note a message from the person at `at` (opens the 24-hour service window).

    Only moves forward: webhooks arrive out of order, and an older message must not shorten the
    window. Returns whether the value changed.
    """
    return bool(
        Contact.objects.filter(pk=contact_id)
        .filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at))
        .update(last_inbound_at=at)
    )


def contact_erase(*, contact: Contact, erased_by: Any) -> Contact:
    """Irreversibly anonymise a contact (GDPR right to erasure).

    Clears every personal field and the tags, replaces the phone by a keyed hash (so the number
    is recognisable as erased without being stored), drops import rows holding the number, runs
    every step registered with `contacts.erasure.register_erasure_step` (message contents in
    other apps), and records who erased it and when. Consent records and message metadata stay,
    pointing at the anonymous contact, for audit. Erased contacts can never be messaged.
    """
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.erased_at:
            raise ContactError("This contact has already been erased.", code="already_erased")
        for step in erasure_steps():
            step(locked.pk)
        if locked.phone:
            ContactImportRejectedRow.objects.filter(phone=locked.phone).delete()
        locked.tags.clear()
        now = timezone.now()
        Contact.objects.filter(pk=locked.pk).update(
            phone=None,
            wa_id="",
            whatsapp_user_id=None,
            name="",
            external_id=None,
            language="",
            timezone="",
            attributes={},
            marketing_consent=None,
            utility_consent=None,
            erased_at=now,
            erased_by=erased_by,
            erased_phone_hash=phone_hash(locked.phone) if locked.phone else "",
            updated_at=now,
        )
        locked.refresh_from_db()
    return locked


def _clean_contact_values(
    values: Mapping[str, Any], *, default_region: str | None
) -> dict[str, Any]:
    cleaners = {
        "phone": lambda value: (
            validation.phone(value, default_region=default_region) if value else None
        ),
        "whatsapp_user_id": validation.whatsapp_user_id,
        "name": lambda value: validation.optional_text(value, field="name", max_length=200),
        "external_id": validation.external_id,
        "language": validation.language,
        "timezone": validation.timezone_name,
        "attributes": validation.attributes,
    }
    cleaned = {name: cleaners[name](value) for name, value in values.items()}
    if cleaned.get("phone"):
        cleaned["wa_id"] = cleaned["phone"][1:]
    return cleaned


def _refuse_erased_number(phone: str | None) -> None:
    if phone and Contact.objects.filter(erased_phone_hash=phone_hash(phone)).exists():
        raise ContactError(
            "This number belonged to a contact who was erased at their request. Add it again "
            "only if the person asked to be added: confirm with returning_after_erasure.",
            field="phone",
            code="erased_number",
        )


def _check_unique(values: Mapping[str, Any], *, exclude_pk: int | None) -> None:
    for name, label in (
        ("phone", "phone"),
        ("external_id", "external_id"),
        ("whatsapp_user_id", "WhatsApp user id"),
    ):
        value = values.get(name)
        if not value:
            continue
        other = Contact.objects.filter(**{name: value}).exclude(pk=exclude_pk).first()
        if other:
            raise ContactError(
                f"Contact #{other.pk} already has this {label}.", field=name, code="unique"
            )


def _save_or_explain(contact: Contact) -> Contact:
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise ContactError(
            "Another contact was just saved with the same phone, external_id or WhatsApp user id.",
            field="phone",
            code="unique",
        ) from None
    return contact


def _set_tags(contact: Contact, names: list[str]) -> None:
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    contact.tags.set(Tag.objects.filter(name__in=names))
