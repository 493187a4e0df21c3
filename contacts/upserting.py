"""Set-based create-or-update of many contacts: the engine behind the CSV import and bulk upsert.

A batch of validated `ContactInput`s is applied with a constant number of queries whatever its
size: one locking read of the matching contacts, one `INSERT` for new contacts, one
`INSERT … ON CONFLICT (id) DO UPDATE` for changed ones, a few for tags and consent records, and one
`UPDATE` recomputing current consent from the ledger. Nothing is written for inputs that would
change nothing, which is what makes re-importing a file a no-op.

Merge rules ("newest wins, tags union"): an input is newer than the database and a later row is
newer than an earlier one. A non-empty value replaces the stored one; an empty value never clears
anything; attributes are merged key by key; tags are only ever added; consent rows are appended
to the ledger unless an identical record is already there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts import postgres_copy
from contacts.erasure import phone_hash
from contacts.models import ConsentRecord, Contact, ContactImport, Tag
from contacts.phones import wa_id_for
from contacts.selectors import current_consent_expressions, tags_by_contact

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
MERGED = "merged"
REJECTED = "rejected"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, MERGED, REJECTED)

_MERGED_FIELDS = ("phone", "whatsapp_user_id", "external_id", "name", "language", "timezone")
# Each identifies one contact (a unique column): inputs are matched and merged on them.
_IDENTITY_FIELDS = ("phone", "whatsapp_user_id", "external_id")
_ATTEMPTS = 3


@dataclass(frozen=True)
class ConsentInput:
    """One opt-in or opt-out to append; `captured_at` None means "now" (opt-outs only)."""

    action: str
    scope: str
    source: str
    evidence: str = ""
    captured_at: datetime | None = None
    policy_version: str = ""


@dataclass
class ContactInput:
    """Validated, normalised values for one contact, and the rows or items they came from."""

    rows: list[int]
    phone: str | None = None
    whatsapp_user_id: str | None = None
    external_id: str | None = None
    name: str = ""
    language: str = ""
    timezone: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    consents: list[ConsentInput] = field(default_factory=list)

    def identity_keys(self) -> list[tuple[str, str]]:
        return [(name, value) for name in _IDENTITY_FIELDS if (value := getattr(self, name))]

    def merged_with(self, newer: ContactInput) -> ContactInput:
        """This input updated by a later one for the same person."""
        return replace(
            self,
            rows=self.rows + newer.rows,
            **{name: getattr(newer, name) or getattr(self, name) for name in _MERGED_FIELDS},
            attributes={**self.attributes, **newer.attributes},
            tags=sorted(set(self.tags) | set(newer.tags)),
            consents=self.consents + newer.consents,
        )


@dataclass(frozen=True)
class RowOutcome:
    row: int
    outcome: str
    contact_id: int | None = None
    reason: str = ""
    phone: str = ""


def upsert_contacts(
    inputs: list[ContactInput],
    *,
    recorded_by: Any = None,
    recorded_via: str = "",
    source_import: ContactImport | None = None,
    row_word: str = "row",
) -> list[RowOutcome]:
    """Apply a batch of inputs (already merged: no two share a key); one outcome per row.

    A merged input's outcome belongs to its last row; its earlier rows are `MERGED` into it (or
    rejected with it), so each contact is counted once as created, updated or unchanged.
    `row_word` names rows in those reasons ("row" in a file, "item" in a request).

    Runs in its own transaction (a savepoint inside an outer one). A concurrent writer creating
    the same phone between our read and our insert makes the batch retry against fresh data.
    """
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic():
                return _Batch(inputs, recorded_by, recorded_via, source_import, row_word).apply()
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class _Batch:
    def __init__(
        self,
        inputs: list[ContactInput],
        recorded_by: Any,
        recorded_via: str,
        source_import: ContactImport | None,
        row_word: str = "row",
    ) -> None:
        self.inputs = inputs
        self.row_word = row_word
        self.recorded_by = recorded_by
        self.recorded_via = recorded_via
        self.source_import = source_import
        self.now = timezone.now()

    def apply(self) -> list[RowOutcome]:
        self._load()
        outcomes: list[tuple[ContactInput, str, int | None, str]] = []
        for item in self.inputs:
            outcomes.append(self._plan(item))
        id_of_new = self._write()
        result = []
        for item, outcome, contact_id, reason in outcomes:
            real_id = id_of_new.get(contact_id, contact_id) if contact_id is not None else None
            phone = item.phone or ""
            last = max(item.rows)
            for row in item.rows:
                if row == last:
                    result.append(RowOutcome(row, outcome, real_id, reason, phone))
                elif outcome == REJECTED:
                    merged_reason = f"{reason} (merged with {self.row_word} {last})"
                    result.append(RowOutcome(row, REJECTED, None, merged_reason, phone))
                else:
                    merged_reason = f"The same person as {self.row_word} {last}; merged into it."
                    result.append(RowOutcome(row, MERGED, real_id, merged_reason, phone))
        return result

    # --- read ---------------------------------------------------------------------------------

    def _load(self) -> None:
        wanted: dict[str, set[str]] = {name: set() for name in _IDENTITY_FIELDS}
        for item in self.inputs:
            for name, value in item.identity_keys():
                wanted[name].add(value)
        phones = wanted["phone"]
        fields = [f.attname for f in Contact._meta.concrete_fields]
        # One query per identifier rather than one with OR: PostgreSQL then always uses the
        # unique indexes, where an OR of long IN lists can tip the planner into a sequential scan.
        self.state: dict[int, dict[str, Any]] = {}
        for name, values in wanted.items():
            if values:
                rows = (
                    Contact.objects.select_for_update()
                    .filter(**{f"{name}__in": values})
                    .order_by("pk")
                    .values(*fields)
                )
                self.state.update((row["id"], row) for row in rows)
        self.by_key: dict[tuple[str, str], int] = {}
        for contact_id, row in self.state.items():
            for name in _IDENTITY_FIELDS:
                if row[name]:
                    self.by_key[(name, row[name])] = contact_id
        # Only numbers no live contact has can be "returning after erasure".
        unmatched = phones - {row["phone"] for row in self.state.values()}
        self.erased_phones: set[str] = set()
        if unmatched and Contact.objects.filter(erased_at__isnull=False).exists():
            hashes = {phone_hash(phone): phone for phone in unmatched}
            erased = Contact.objects.filter(erased_phone_hash__in=hashes).values_list(
                "erased_phone_hash", flat=True
            )
            self.erased_phones = {hashes[value] for value in erased}
        self.tags = {
            contact_id: set(names) for contact_id, names in tags_by_contact(self.state).items()
        }
        self.consent_seen: set[tuple] = set()
        self.latest_action: dict[tuple[int, str], str] = {}
        with_consent = [
            contact_id
            for item in self.inputs
            if item.consents
            for contact_id in {self.by_key.get(key) for key in item.identity_keys()}
            if contact_id
        ]
        records = (
            ConsentRecord.objects.filter(contact_id__in=with_consent)
            .order_by("captured_at", "id")
            .values_list("contact_id", "action", "scope", "source", "evidence", "captured_at")
        )
        for contact_id, action, scope, source, evidence, captured_at in records:
            self.consent_seen.add((contact_id, action, scope, source, evidence, captured_at))
            self.latest_action[(contact_id, scope)] = action
        self.new: dict[int, dict[str, Any]] = {}
        self.changed: dict[int, set[str]] = {}
        self.tag_links: set[tuple[int, str]] = set()
        self.consents: list[tuple[int, ConsentInput]] = []

    # --- plan ---------------------------------------------------------------------------------

    def _plan(self, item: ContactInput) -> tuple[ContactInput, str, int | None, str]:
        matches = {
            name: self.by_key[(name, value)]
            for name, value in item.identity_keys()
            if (name, value) in self.by_key
        }
        if len(set(matches.values())) > 1:
            owners = " but ".join(
                f"{name} {getattr(item, name)} {'belongs ' if index == 0 else ''}to "
                f"{self._label(contact_id)}"
                for index, (name, contact_id) in enumerate(matches.items())
            )
            return item, REJECTED, None, f"{owners[0].upper()}{owners[1:]}."
        contact_id = next(iter(matches.values()), None)
        if contact_id is None:
            if not item.phone and not item.whatsapp_user_id:
                return (
                    item,
                    REJECTED,
                    None,
                    (
                        f"No contact has external_id {item.external_id}; "
                        "a phone is needed to create one."
                    ),
                )
            if item.phone in self.erased_phones:
                return (
                    item,
                    REJECTED,
                    None,
                    (
                        "This number belonged to a contact who was erased at their request; add it "
                        "again only if the person asks, one contact at a time (admin, or "
                        "POST /api/v1/contacts/ with returning_after_erasure)."
                    ),
                )
            return item, CREATED, self._plan_new(item), ""
        changed = self._plan_update(contact_id, item)
        return item, UPDATED if changed else UNCHANGED, contact_id, ""

    def _plan_new(self, item: ContactInput) -> int:
        temporary_id = -(len(self.new) + 1)
        self.new[temporary_id] = {
            "phone": item.phone,
            "wa_id": wa_id_for(item.phone) if item.phone else "",
            "whatsapp_user_id": item.whatsapp_user_id,
            "external_id": item.external_id,
            "name": item.name,
            "language": item.language,
            "timezone": item.timezone,
            "attributes": dict(item.attributes),
        }
        for key in item.identity_keys():
            self.by_key[key] = temporary_id
        self.tags[temporary_id] = set()
        self._plan_tags_and_consents(temporary_id, item)
        return temporary_id

    def _plan_update(self, contact_id: int, item: ContactInput) -> bool:
        row = self.new.get(contact_id) or self.state[contact_id]
        changed = set()
        for name in _MERGED_FIELDS:
            value = getattr(item, name)
            if value and value != row[name]:
                if name in _IDENTITY_FIELDS:
                    self.by_key.pop((name, row[name]), None)
                    self.by_key[(name, value)] = contact_id
                row[name] = value
                changed.add(name)
                if name == "phone":
                    row["wa_id"] = wa_id_for(value)
                    changed.add("wa_id")
        attributes = {**row["attributes"], **item.attributes}
        if attributes != row["attributes"]:
            row["attributes"] = attributes
            changed.add("attributes")
        if changed and contact_id > 0:
            self.changed.setdefault(contact_id, set()).update(changed)
        links_before, consents_before = len(self.tag_links), len(self.consents)
        self._plan_tags_and_consents(contact_id, item)
        return bool(changed) or (links_before, consents_before) != (
            len(self.tag_links),
            len(self.consents),
        )

    def _plan_tags_and_consents(self, contact_id: int, item: ContactInput) -> None:
        current = self.tags.setdefault(contact_id, set())
        for name in item.tags:
            if name not in current:
                current.add(name)
                self.tag_links.add((contact_id, name))
        for consent in item.consents:
            if consent.captured_at is None:
                # Undated (an opt-out "as of now"): only news if it changes the latest state.
                if self.latest_action.get((contact_id, consent.scope)) == consent.action:
                    continue
            else:
                key = (
                    contact_id,
                    consent.action,
                    consent.scope,
                    consent.source,
                    consent.evidence,
                    consent.captured_at,
                )
                if key in self.consent_seen:
                    continue
                self.consent_seen.add(key)
            self.latest_action[(contact_id, consent.scope)] = consent.action
            self.consents.append((contact_id, consent))

    def _label(self, contact_id: int) -> str:
        return "a contact earlier in this batch" if contact_id < 0 else f"contact #{contact_id}"

    # --- write --------------------------------------------------------------------------------

    def _write(self) -> dict[int, int]:
        # Updates first: a contact whose phone or external id changes releases the old value,
        # which a new contact in the same batch may take.
        if self.changed:
            fields = sorted(set().union(*self.changed.values()) | {"updated_at"})
            Contact.objects.bulk_create(
                [Contact(**self.state[contact_id]) for contact_id in self.changed],
                update_conflicts=True,
                unique_fields=["id"],
                update_fields=fields,
            )
        id_of_new = self._insert_contacts() if self.new else {}
        if self.tag_links:
            self._write_tags(id_of_new)
        if self.consents:
            self._write_consents(id_of_new)
        return id_of_new

    def _insert_contacts(self) -> dict[int, int]:
        if not postgres_copy.available():
            created = Contact.objects.bulk_create(
                [Contact(**values) for values in self.new.values()]
            )
            return {
                temporary: contact.pk for temporary, contact in zip(self.new, created, strict=True)
            }
        ids = postgres_copy.reserve_ids(Contact, len(self.new))
        from psycopg.types.json import Jsonb

        postgres_copy.copy_rows(
            Contact,
            [
                *("id", "created_at", "updated_at", "phone", "wa_id", "whatsapp_user_id"),
                *("name", "external_id", "language", "timezone", "attributes"),
                "erased_phone_hash",
            ],
            (
                (
                    contact_id,
                    self.now,
                    self.now,
                    values["phone"],
                    values["wa_id"],
                    values["whatsapp_user_id"],
                    values["name"],
                    values["external_id"],
                    values["language"],
                    values["timezone"],
                    Jsonb(values["attributes"]),
                    "",
                )
                for contact_id, values in zip(ids, self.new.values(), strict=True)
            ),
        )
        return dict(zip(self.new, ids, strict=True))

    def _write_tags(self, id_of_new: dict[int, int]) -> None:
        names = {name for _, name in self.tag_links}
        Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
        through = Contact.tags.through
        links = [
            (id_of_new.get(contact_id, contact_id), tag_ids[name])
            for contact_id, name in self.tag_links
        ]
        if postgres_copy.available():
            # Only links missing when we read under lock are planned, so none can conflict.
            postgres_copy.copy_rows(through, ["contact_id", "tag_id"], links)
        else:
            through.objects.bulk_create(
                [through(contact_id=contact_id, tag_id=tag_id) for contact_id, tag_id in links],
                ignore_conflicts=True,
            )

    def _write_consents(self, id_of_new: dict[int, int]) -> None:
        recorded_by_id = self.recorded_by.pk if self.recorded_by else None
        import_id = self.source_import.pk if self.source_import else None
        rows = [
            (
                id_of_new.get(contact_id, contact_id),
                consent.action,
                consent.scope,
                consent.source,
                consent.evidence,
                consent.captured_at or self.now,
                self.now,
                recorded_by_id,
                self.recorded_via,
                "",
                consent.policy_version,
                import_id,
            )
            for contact_id, consent in self.consents
        ]
        columns = ["contact_id", "action", "scope", "source", "evidence", "captured_at"]
        columns += ["recorded_at", "recorded_by_id", "recorded_via", "user_agent"]
        columns += ["policy_version", "source_import_id"]
        if postgres_copy.available():
            postgres_copy.copy_rows(ConsentRecord, columns, rows)
        else:
            ConsentRecord.objects.bulk_create(
                [ConsentRecord(**dict(zip(columns, row, strict=True))) for row in rows]
            )
        affected = {id_of_new.get(contact_id, contact_id) for contact_id, _ in self.consents}
        Contact.objects.filter(pk__in=affected, erased_at__isnull=True).update(
            **current_consent_expressions()
        )
