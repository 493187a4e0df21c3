"""How fast the CSV import runs: `bench_contact_import(rows)` or `python -m bench.contacts_import`.

Generates a realistic CRM export (mixed phone formats, tags, attributes, consent columns, a few
invalid rows and duplicates), then times the import service end to end — storing the upload in
the database and importing it — on an already migrated database (DATABASE_URL for the command).
The target on a 2-core machine is 100,000 rows in under a minute. The run leaves its contacts in
the database (consent records are append-only); every run uses fresh numbers and ids.
"""

from __future__ import annotations

import csv
import io
import os
import random
import sys
import time
import uuid

FIRST_NAMES = ["Ann", "Bruno", "Chloé", "Dmitri", "Eva", "Fátima", "George", "Hana", "Ivo", "Júlia"]
LAST_NAMES = ["Smith", "Silva", "Müller", "Okafor", "Rossi", "Nguyen", "García", "Kowalski"]
LANGUAGES = ["en_GB", "en_US", "pt_BR", "es", "de", ""]
TIMEZONES = ["Europe/London", "America/Sao_Paulo", "Europe/Berlin", "America/New_York", ""]
TAGS = ["vip", "newsletter", "loyalty", "churn-risk", "b2b", "store-42"]
TIERS = ["bronze", "silver", "gold", "platinum"]
HEADER = [
    "phone",
    "name",
    "external_id",
    "language",
    "timezone",
    "tags",
    "attr.tier",
    "attr.points",
    "consent_action",
    "consent_scope",
    "consent_evidence",
    "consent_captured_at",
]


def generate_csv(rows: int, *, seed: int | None = None) -> bytes:
    """A CRM-style export: ~2% invalid phones, ~1% bad timezones, ~1% opt-ins without
    evidence, ~3% duplicates of earlier rows (same phone, other tags), half with consent columns.
    """
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    block = rng.randrange(7400, 7600)  # a UK mobile range of a million valid numbers
    numbers = rng.sample(range(1_000_000), rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    written: list[list[str]] = []
    for index in range(rows):
        roll = rng.random()
        if written and roll < 0.03:
            duplicate = list(rng.choice(written))
            duplicate[5] = rng.choice(TAGS)
            writer.writerow(duplicate)
            continue
        national = f"{block}{numbers[index]:06d}"
        phone = rng.choice([f"+44 {national[:4]} {national[4:]}", f"0{national}", f"44{national}"])
        if roll < 0.05:
            phone = f"+44 {national[:6]}"  # too short
        timezone = rng.choice(TIMEZONES) if roll >= 0.06 else "Mars/Olympus_Mons"
        consent = ["", "", "", ""]
        if rng.random() < 0.5:
            evidence = "" if roll > 0.99 else f"web-form-{rng.randrange(1, 40)}"
            consent = ["opt_in", "marketing", evidence, f"2025-0{rng.randrange(1, 10)}-15"]
        row = [
            phone,
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            f"bench-{run}-{index}",
            rng.choice(LANGUAGES),
            timezone,
            ",".join(rng.sample(TAGS, rng.randrange(0, 3))),
            rng.choice(TIERS),
            str(rng.randrange(0, 50_000)),
            *consent,
        ]
        writer.writerow(row)
        written.append(row)
    return out.getvalue().encode("utf-8")


def bench_contact_import(rows: int = 100_000) -> dict:
    """Import a generated file of `rows` rows; returns rows, seconds and rows_per_second."""
    from contacts import services

    data = generate_csv(rows)
    started = time.perf_counter()
    contact_import = services.contact_import_create(
        file=io.BytesIO(data), file_name=f"bench-{rows}.csv", queue=False
    )
    contact_import = services.contact_import_process(contact_import_id=contact_import.pk)
    seconds = time.perf_counter() - started
    assert contact_import is not None and contact_import.status == "completed", contact_import
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "created": contact_import.created_count,
        "updated": contact_import.updated_count,
        "unchanged": contact_import.unchanged_count,
        "rejected": contact_import.rejected_count,
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(bench_contact_import(rows))


if __name__ == "__main__":
    main()
