"""Campaign throughput, throttle accuracy and cost per message, end to end.

End to end means: the campaign is started through the service (as the admin or API does), a real
Celery worker process plans and dispatches it over Redis, and the clock stops when every message
is recorded in PostgreSQL. Meta is the loopback stand-in answering after 200 ms.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import psutil
import requests

from .environment import wait_until

AUDIENCE_TAG = "bench"


@dataclass
class CampaignRun:
    recipients: int
    seconds: float
    messages_per_second: float
    sent: int
    other_statuses: dict[str, int]
    standin_unique: int
    standin_duplicates: int
    max_in_any_second: int
    standin_mean_rate: float
    worker_cpu_seconds: float
    worker_peak_rss_mb: float


def seed_audience(count: int, *, tag_name: str = AUDIENCE_TAG, phone_prefix: str = "+4477") -> None:
    """`count` contacts tagged `tag_name` with a utility opt-in, written in bulk (setup, not what
    is measured)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from contacts.models import ConsentRecord, Contact, Segment, Tag

    existing = Contact.objects.filter(tags__name=tag_name).count()
    if existing >= count:
        return
    now = timezone.now()
    tag, _ = Tag.objects.get_or_create(name=tag_name)
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    phone=f"{phone_prefix}{index:08d}",
                    name=f"Bench {index}",
                    external_id=f"{tag_name}-{index}",
                    language="en_US",
                    timezone="Europe/London",
                    attributes={"points": index % 5000},
                )
                for index in range(existing, count)
            ],
            batch_size=5000,
        )
        Contact.tags.through.objects.bulk_create(
            [Contact.tags.through(contact_id=c.id, tag_id=tag.id) for c in contacts],
            batch_size=5000,
        )
        ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    contact=contact,
                    action="opt_in",
                    scope="all",
                    source="import",
                    evidence="bench fixture",
                    captured_at=now - dt.timedelta(days=1),
                )
                for contact in contacts
            ],
            batch_size=5000,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE contacts_contact c
                SET utility_consent_id = r.id, marketing_consent_id = r.id
                FROM contacts_consentrecord r
                WHERE r.contact_id = c.id AND c.utility_consent_id IS NULL
                """
            )
    Segment.objects.get_or_create(
        name=f"Bench audience {tag_name}", defaults={"tags_all": [tag_name]}
    )


def make_campaign(*, recipients: int, cap: int, name: str, audience_tag: str = AUDIENCE_TAG):
    """A UTILITY campaign to exactly the first `recipients` contacts tagged `audience_tag` (a tag
    of their own)."""
    from campaigns.models import Campaign
    from contacts.models import Contact, Segment, Tag
    from templates_app.models import MessageTemplate, SenderNumber, WhatsAppAccount

    account, _ = WhatsAppAccount.objects.get_or_create(waba_id="100000000000001", name="Bench")
    sender, _ = SenderNumber.objects.update_or_create(
        phone_number_id="100000000000002",
        defaults={
            "account": account,
            "display_phone_number": "+1 555 000 1234",
            "throughput_per_second": max(cap, 1000),
            "messaging_limit_tier": SenderNumber.MessagingLimitTier.TIER_UNLIMITED,
        },
    )
    template, _ = MessageTemplate.objects.get_or_create(
        account=account,
        name="order_update",
        language="en_US",
        defaults={
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "status": "APPROVED",
            "meta_template_id": "900000000000001",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, you have {{2}} points.",
                    "example": {"body_text": [["Ana", "10"]]},
                }
            ],
        },
    )
    tag, created = Tag.objects.get_or_create(name=f"{audience_tag}-first-{recipients}")
    if created:
        ids = (
            Contact.objects.filter(tags__name=audience_tag)
            .order_by("id")
            .values_list("id", flat=True)[:recipients]
        )
        through = Contact.tags.through
        through.objects.bulk_create(
            [through(contact_id=contact_id, tag_id=tag.id) for contact_id in ids],
            batch_size=5000,
        )
    segment, _ = Segment.objects.get_or_create(
        name=f"Bench {audience_tag} first {recipients}", defaults={"tags_all": [tag.name]}
    )
    return Campaign.objects.create(
        name=name,
        sender=sender,
        template=template,
        default_language="en_US",
        segment=segment,
        throughput_per_second=cap,
        variable_mapping={
            "body.1": {"source": "contact", "path": "name"},
            "body.2": {"source": "attribute", "path": "points", "format": "integer"},
        },
    )


# Production workers are long-lived: before each measured campaign the fresh workers send a small
# one to contacts of their own, so that what is measured excludes what a worker does once
# (imports on first use, connections, the HTTP session) and the cost per message compares
# campaign sizes fairly.
WARM_UP_RECIPIENTS = 200
WARM_UP_TAG = "bench-warm-up"


def _finished(campaign) -> bool:
    from campaigns.models import CampaignStatus

    campaign.refresh_from_db()
    return campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.STOPPED)


def _warm_up(name: str) -> None:
    from django.db import transaction

    from campaigns.services import campaign_start

    campaign = make_campaign(
        recipients=WARM_UP_RECIPIENTS, cap=5000, name=f"{name} (warm-up)", audience_tag=WARM_UP_TAG
    )
    with transaction.atomic():
        campaign_start(campaign_id=campaign.pk)
    wait_until(lambda: _finished(campaign), timeout=120, what=f"campaign {campaign.name}")


def run_campaign(env, *, recipients: int, cap: int, name: str, timeout: float = 600) -> CampaignRun:
    """Start a campaign to the first `recipients` bench contacts and wait until all recorded."""
    from django.db import transaction
    from django.db.models import Count

    from campaigns.models import Message
    from campaigns.services import campaign_start

    seed_audience(recipients)
    seed_audience(WARM_UP_RECIPIENTS, tag_name=WARM_UP_TAG, phone_prefix="+4478")
    # One worker process per core, as production would run them; the CPU and memory figures are
    # the sum over them.
    workers = [
        env.start_worker(concurrency=4, name=f"bench-{recipients}-{number}")
        for number in range(env.worker_processes)
    ]
    time.sleep(2.0)  # the workers connect to the broker
    _warm_up(name)
    campaign = make_campaign(recipients=recipients, cap=cap, name=name)
    env.meta.reset()
    processes = [psutil.Process(worker.pid) for worker in workers]

    def cpu_seconds() -> float:
        return sum(sum(process.cpu_times()[:2]) for process in processes)

    def rss() -> int:
        return sum(process.memory_info().rss for process in processes)

    cpu_before = cpu_seconds()
    peak_rss = rss()
    started = time.perf_counter()
    with transaction.atomic():
        campaign_start(campaign_id=campaign.pk)

    def sampled_and_finished() -> bool:
        nonlocal peak_rss
        peak_rss = max(peak_rss, rss())
        return _finished(campaign)

    wait_until(sampled_and_finished, timeout=timeout, what=f"campaign {name}")
    seconds = time.perf_counter() - started
    cpu_after = cpu_seconds()
    for worker in workers:
        env.stop(worker)
    counts = dict(
        Message.objects.filter(campaign=campaign)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    ledger = env.meta.ledger()
    sent = counts.pop("sent", 0)
    return CampaignRun(
        recipients=recipients,
        seconds=seconds,
        messages_per_second=sent / seconds if seconds else 0.0,
        sent=sent,
        other_statuses=counts,
        standin_unique=ledger["accepted_unique"],
        standin_duplicates=ledger["duplicates"],
        max_in_any_second=ledger["max_in_sliding_second"],
        standin_mean_rate=ledger["mean_rate"],
        worker_cpu_seconds=cpu_after - cpu_before,
        worker_peak_rss_mb=peak_rss / 1024 / 1024,
    )


def naive_sequential(base_url: str, *, messages: int) -> float:
    """What a simple script does: one request at a time. Returns messages per second."""
    session = requests.Session()
    url = f"{base_url}/v23.0/100000000000002/messages"
    headers = {"Authorization": "Bearer bench-access-token"}
    started = time.perf_counter()
    for index in range(messages):
        session.post(
            url,
            json={
                "messaging_product": "whatsapp",
                "to": f"+4477{index:08d}",
                "type": "template",
                "template": {"name": "order_update", "language": {"code": "en_US"}},
                "biz_opaque_callback_data": f"naive:{index}",
            },
            headers=headers,
            timeout=10,
        )
    return messages / (time.perf_counter() - started)
