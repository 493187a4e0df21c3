"""What personalisation costs: `bench_personalisation(recipients)` or
`python -m bench.personalisation [recipients]`.

Runs the CRM stand-in answering after 300 ms, creates an audience and a data source pointing at
the stand-in, then personalises the audience in chunks twice: cold (every value fetched), and warm
(a second campaign within the TTL, every value from the cache). Reports data-source calls per
recipient for both, the warm cost per message, and the latency of one uncached message. Needs a
migrated database and Django's cache on Redis (REDIS_URL); it removes what it created.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

CRM_LATENCY_SECONDS = 0.3
TIERS = ["bronze", "silver", "gold", "platinum"]
LANGUAGES = ["en_US", "en_GB", "pt_BR", "de_DE", "es", ""]
TIMEZONES = ["Europe/London", "America/Sao_Paulo", "Europe/Berlin", "Asia/Tokyo", ""]
UNCACHED_SAMPLES = 5


def _record(key: str) -> dict[str, Any]:
    number = sum(key.encode())
    return {
        "tier": TIERS[number % len(TIERS)],
        "points": number * 37,
        "balance": number / 4,
        "expires": f"2026-{number % 12 + 1:02d}-{number % 28 + 1:02d}",
    }


def bench_personalisation(
    recipients: int = 2000, *, chunk_size: int = 200, max_concurrency: int = 100
) -> dict[str, Any]:
    """Measure cold and warm personalisation of `recipients` contacts, `chunk_size` at a time.

    Assumes Django is set up on a migrated database with the cache on Redis.
    """
    from django.core.cache import caches

    from campaigns.models import DataSource
    from campaigns.personalisation import FetchStats, invalidate, personalise_contacts
    from contacts.models import Contact
    from tests.support.crm_api import CRMStandIn

    run = uuid.uuid4().hex[:8]
    contacts = Contact.objects.bulk_create(
        Contact(
            whatsapp_user_id=f"BENCH.{run}.{index}",
            name=f"Customer {index}",
            external_id=f"B-{run}-{index}",
            language=LANGUAGES[index % len(LANGUAGES)],
            timezone=TIMEZONES[index % len(TIMEZONES)],
            attributes={"visits": index},
        )
        for index in range(recipients)
    )
    chunks = [contacts[start : start + chunk_size] for start in range(0, recipients, chunk_size)]
    source_name = f"bench-{run}"
    mapping = {
        "body.1": {"source": "contact", "path": "name", "fallback": "there"},
        "body.2": {"source": "data_source", "path": f"{source_name}.tier"},
        "body.3": {"source": "data_source", "path": f"{source_name}.points", "format": "integer"},
        "body.4": {
            "source": "data_source",
            "path": f"{source_name}.balance",
            "format": "money",
            "currency": "EUR",
        },
        "body.5": {"source": "data_source", "path": f"{source_name}.expires", "format": "date"},
        "body.6": {"source": "attribute", "path": "visits", "format": "integer"},
    }
    fallback = {"body.1": {"source": "contact", "path": "name", "fallback": "there"}}

    def personalise_all(stats: FetchStats) -> tuple[float, int]:
        started = time.perf_counter()
        personalised = 0
        for chunk in chunks:
            outcomes = personalise_contacts(
                mapping=mapping, fallback_mapping=fallback, contacts=chunk, stats=stats
            )
            personalised += sum(1 for outcome in outcomes.values() if outcome.variant == "primary")
        return time.perf_counter() - started, personalised

    with CRMStandIn(default_record=_record, latency=CRM_LATENCY_SECONDS) as crm:
        source = DataSource.objects.create(
            name=source_name,
            url_template=crm.url_template("external_id"),
            timeout_seconds=5,
            ttl_seconds=3600,
            max_concurrency=max_concurrency,
        )
        try:
            cold_stats = FetchStats()
            cold_seconds, cold_personalised = personalise_all(cold_stats)
            cold_calls = crm.calls
            crm.reset_counts()

            warm_stats = FetchStats()
            warm_seconds, warm_personalised = personalise_all(warm_stats)
            warm_calls = crm.calls

            uncached_ms = []
            for contact in contacts[:UNCACHED_SAMPLES]:
                invalidate(source_name=source_name, keys=[contact.external_id])
                started = time.perf_counter()
                personalise_contacts(mapping=mapping, fallback_mapping=fallback, contacts=[contact])
                uncached_ms.append((time.perf_counter() - started) * 1000)
        finally:
            invalidate(source_name=source_name, keys=[contact.external_id for contact in contacts])
            source.delete()
            Contact.objects.filter(pk__in=[contact.pk for contact in contacts]).delete()

    return {
        "recipients": recipients,
        "chunk_size": chunk_size,
        "crm_latency_ms": CRM_LATENCY_SECONDS * 1000,
        "max_concurrency": max_concurrency,
        "cache_backend": type(caches["default"]).__module__,
        "cold": {
            "crm_calls_per_recipient": round(cold_calls / recipients, 3),
            "seconds": round(cold_seconds, 2),
            "recipients_per_second": round(recipients / cold_seconds, 1),
            "personalised": cold_personalised,
            "stats": cold_stats.as_dict(),
        },
        "warm": {
            "crm_calls_per_recipient": round(warm_calls / recipients, 3),
            "us_per_message": round(warm_seconds / recipients * 1_000_000, 1),
            "seconds": round(warm_seconds, 3),
            "personalised": warm_personalised,
            "stats": warm_stats.as_dict(),
        },
        "uncached_message_ms": round(statistics.median(uncached_ms), 1),
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings

    if not settings.REDIS_URL:
        print("note: REDIS_URL is unset, so this measures the in-process cache", file=sys.stderr)
    recipients = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(bench_personalisation(recipients), indent=2))


if __name__ == "__main__":
    main()
