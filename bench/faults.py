"""`make faults` (`python -m bench.faults [--size N]`): break things mid-campaign and prove that
nothing is lost or sent twice.

Every scenario runs real processes on loopback — PostgreSQL, Redis, the web server (granian),
Celery worker and beat, and Meta's stand-in, which keeps its own ledger of every send it accepted
(keyed by our id in `biz_opaque_callback_data`) and posts signed status webhooks back. Duplicates
and losses are counted from that ledger, independently of Tidings's own database. Each scenario
prints PASS or FAIL with its counts; the exit status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from campaigns.sending import RESERVATION_HORIZON_SECONDS

from . import payloads
from .environment import APP_SECRET, BenchEnvironment, wait_until

LEASE_SECONDS = 10
READ_TIMEOUT_SECONDS = 3
SEND_RATE = 400
FINAL_STATUSES = {"sent", "delivered", "read", "failed", "skipped", "unknown", "expired"}
NEEDS_A_REASON = {"failed", "skipped", "unknown", "expired"}


@dataclass
class Verdict:
    name: str
    passed: bool = True
    counts: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def require(self, condition: bool, problem: str) -> None:
        if not condition:
            self.passed = False
            self.problems.append(problem)

    def line(self) -> str:
        figures = ", ".join(f"{key}={value}" for key, value in self.counts.items())
        status = "PASS" if self.passed else "FAIL"
        problems = "" if self.passed else " — " + "; ".join(self.problems)
        return f"{status}  {self.name}: {figures}{problems}"


# --- helpers ------------------------------------------------------------------------------------


def campaign_status(campaign_id: int) -> str:
    from campaigns.models import Campaign

    return Campaign.objects.values_list("status", flat=True).get(pk=campaign_id)


def message_counts(campaign_id: int) -> Counter:
    from django.db.models import Count

    from campaigns.models import Message

    return Counter(
        dict(
            Message.objects.filter(campaign_id=campaign_id)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
    )


def settled(campaign_id: int) -> bool:
    counts = message_counts(campaign_id)
    return sum(counts.values()) > 0 and set(counts) <= FINAL_STATUSES


def check_ledger(verdict: Verdict, env: BenchEnvironment, campaign_id: int) -> None:
    """What Meta's stand-in accepted against what Tidings recorded, message by message."""
    from campaigns.dispatch import message_id_from_callback_data
    from campaigns.models import Message

    accepted = env.meta.ledger_ids()
    duplicates = sum(count - 1 for count in accepted.values() if count > 1)
    rows = dict(Message.objects.filter(campaign_id=campaign_id).values_list("id", "status"))
    reasons_missing = Message.objects.filter(
        campaign_id=campaign_id, status__in=NEEDS_A_REASON, reason=""
    ).count()
    accepted_ids = {message_id_from_callback_data(key) for key in accepted}
    accepted_ids.discard(None)
    ours = {message_id for message_id in accepted_ids if message_id in rows}
    # A message Meta accepted must never be recorded as not sent: that is how resends happen.
    lost = [
        message_id for message_id in ours if rows[message_id] in {"queued", "deferred", "skipped"}
    ]
    # Meta's webhooks carried our id for every send it accepted: that proof must have been used.
    unproven = [message_id for message_id in ours if rows[message_id] == "unknown"]
    stuck = sum(1 for status in rows.values() if status not in FINAL_STATUSES)
    verdict.counts.update(
        messages=len(rows),
        accepted_by_meta=len(ours),
        duplicates=duplicates,
        stuck=stuck,
        **{f"status_{key}": value for key, value in sorted(Counter(rows.values()).items())},
    )
    verdict.require(duplicates == 0, f"{duplicates} messages sent twice")
    verdict.require(stuck == 0, f"{stuck} messages not in a final state")
    verdict.require(not lost, f"{len(lost)} accepted by Meta but recorded as unsent")
    verdict.require(
        not unproven, f"{len(unproven)} accepted by Meta still unknown after its webhooks"
    )
    verdict.require(reasons_missing == 0, f"{reasons_missing} failed/skipped/unknown lack a reason")


def start_campaign(env: BenchEnvironment, *, recipients: int, cap: int, name: str) -> int:
    from django.db import transaction

    from campaigns.services import campaign_start

    from .dispatch import make_campaign, seed_audience

    seed_audience(recipients)
    campaign = make_campaign(recipients=recipients, cap=cap, name=name)
    env.meta.reset()
    with transaction.atomic():
        campaign_start(campaign_id=campaign.pk)
    return campaign.pk


def accepted_count(env: BenchEnvironment) -> int:
    return int(env.meta.ledger()["accepted_unique"])


def finish(env: BenchEnvironment, campaign_id: int, *, timeout: float) -> None:
    """Until the campaign has settled and Meta's stand-in has reported, and Tidings applied,
    every status of every send it accepted (three each: sent, delivered, read)."""
    from webhooks.models import WebhookDelivery

    wait_until(
        lambda: (
            campaign_status(campaign_id) in {"completed", "stopped", "cancelled"}
            and settled(campaign_id)
        ),
        timeout=timeout,
        what=f"campaign {campaign_id} settled",
    )

    def reported() -> bool:
        return env.meta.ledger()["unreported"] == 0

    wait_until(reported, timeout=180, what="Meta's status webhooks posted")
    wait_until(
        lambda: not WebhookDelivery.objects.filter(status__in=["pending", "processing"]).exists(),
        timeout=180,
        what="status webhooks applied",
    )


# --- scenarios ----------------------------------------------------------------------------------


def worker_killed_mid_campaign(env: BenchEnvironment, size: int) -> Verdict:
    verdict = Verdict("1. worker killed with SIGKILL mid-campaign, a new one takes over")
    worker = env.start_worker(concurrency=4, name="victim")
    campaign_id = start_campaign(env, recipients=size, cap=SEND_RATE, name="Faults: kill -9")
    wait_until(lambda: accepted_count(env) >= size * 0.3, timeout=120, what="30% sent")
    env.stop(worker, kill=True)
    verdict.counts["accepted_before_kill"] = accepted_count(env)
    replacement = env.start_worker(concurrency=4, name="replacement")
    finish(env, campaign_id, timeout=size / SEND_RATE * 4 + LEASE_SECONDS * 6 + 60)
    check_ledger(verdict, env, campaign_id)
    env.stop(replacement)
    return verdict


def flaky_meta(env: BenchEnvironment, size: int) -> Verdict:
    verdict = Verdict("2. Meta answers 10% 429/130429, 10% 5xx and times out 2%")
    cap = SEND_RATE
    env.meta.configure(
        rate_limit=0.10,
        server_error=0.10,
        timeout=0.02,
        timeout_seconds=READ_TIMEOUT_SECONDS + 2,
        cap=cap,
    )
    worker = env.start_worker(concurrency=4, name="flaky")
    try:
        campaign_id = start_campaign(env, recipients=size, cap=cap, name="Faults: flaky Meta")
        finish(env, campaign_id, timeout=size / cap * 6 + 180)
    finally:
        env.meta.configure(rate_limit=0, server_error=0, gateway_error=0, timeout=0, cap=0)
    check_ledger(verdict, env, campaign_id)
    ledger = env.meta.ledger()
    verdict.counts["max_in_any_second"] = ledger["max_in_sliding_second"]
    verdict.counts["rejected_by_meta"] = sum(ledger["rejected"].values())
    verdict.require(
        ledger["max_in_sliding_second"] <= cap,
        f"{ledger['max_in_sliding_second']} sends in one second over the cap of {cap}",
    )
    from campaigns.models import Message

    failed_without_code = Message.objects.filter(
        campaign_id=campaign_id, status="failed", error_code__isnull=True
    ).count()
    verdict.require(failed_without_code == 0, f"{failed_without_code} failed without Meta's code")
    env.stop(worker)
    return verdict


def servers_restarted(env: BenchEnvironment, size: int) -> Verdict:
    verdict = Verdict("3. Redis restarted, then PostgreSQL, mid-campaign")
    worker = env.start_worker(concurrency=4, name="restarts")
    rate = max(SEND_RATE // 4, 50)
    campaign_id = start_campaign(env, recipients=size, cap=rate, name="Faults: restarts")
    wait_until(lambda: accepted_count(env) >= size * 0.2, timeout=120, what="20% sent")
    env.restart_redis()
    verdict.counts["accepted_at_redis_restart"] = accepted_count(env)
    wait_until(lambda: accepted_count(env) >= size * 0.5, timeout=180, what="50% sent")
    env.restart_postgres()
    verdict.counts["accepted_at_postgres_restart"] = accepted_count(env)
    from django.db import connections

    connections.close_all()
    finish(env, campaign_id, timeout=size / rate * 4 + LEASE_SECONDS * 6 + 120)
    check_ledger(verdict, env, campaign_id)
    verdict.require(
        campaign_status(campaign_id) == "completed",
        f"campaign ended {campaign_status(campaign_id)}, not completed",
    )
    env.stop(worker)
    return verdict


def shuffled_status_webhooks(env: BenchEnvironment, size: int) -> Verdict:
    """Statuses for `size` messages (three each, some failed), 10% duplicated, shuffled, and a
    share posted before the send result is committed; the final state must equal the truth."""
    from django.db.models import F
    from django.utils import timezone

    from campaigns.models import Message

    from .webhooks import seed_sent_messages

    verdict = Verdict("4. status webhooks duplicated, shuffled, some before the send result")
    scenario_started = timezone.now()
    rng = random.Random(4)
    seeded = seed_sent_messages(size)
    ids = [message_id for message_id, _wamid, _recipient in seeded]
    # A fifth of the messages are still "sending": their statuses race our send result.
    racing = set(rng.sample(ids, size // 5))
    wamids = {message_id: wamid for message_id, wamid, _recipient in seeded}
    Message.objects.filter(pk__in=racing).update(
        status="sending",
        wamid=None,
        sent_at=None,
        lease_expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    truth: dict[int, str] = {}
    events: list[tuple[int, str, str, int]] = []
    base = int(time.time()) - 600
    for message_id, wamid, _recipient in seeded:
        final = rng.choices(["read", "delivered", "failed"], weights=[6, 3, 1])[0]
        truth[message_id] = final
        steps = ["sent", "failed"] if final == "failed" else ["sent", "delivered", "read"]
        steps = steps[: steps.index(final) + 1]
        for offset, status in enumerate(steps):
            events.append((message_id, wamid, status, base + offset))
    events += rng.sample(events, len(events) // 10)
    rng.shuffle(events)
    verdict.counts["webhooks_posted"] = len(events)
    recipients = {message_id: recipient for message_id, _wamid, recipient in seeded}
    bodies = [
        _status_body(message_id, wamid, recipients[message_id], status, timestamp)
        for message_id, wamid, status, timestamp in events
    ]
    worker = env.start_worker(concurrency=2, name="statuses", queues="webhooks,celery")
    regressions = Counter()
    last_rank: dict[int, float] = {}

    def sample_ranks() -> None:
        for message_id, status in Message.objects.filter(pk__in=ids).values_list("id", "status"):
            rank = RANK.get(status, 0)
            if rank < last_rank.get(message_id, 0):
                regressions[message_id] += 1
            last_rank[message_id] = max(rank, last_rank.get(message_id, 0))

    half = len(bodies) // 2
    answers = post_all(env.web_url, bodies[:half], on_batch=sample_ranks)
    # Our send results commit now, in the middle of the stream, as a slow worker's would.
    for message_id in racing:
        Message.objects.filter(pk=message_id, wamid__isnull=True).update(
            wamid=wamids[message_id], sent_at=F("created_at")
        )
        Message.objects.filter(pk=message_id, status="sending").update(status="sent")
    answers += post_all(env.web_url, bodies[half:], on_batch=sample_ranks)
    from webhooks.models import WebhookDelivery

    wait_until(
        lambda: (
            not WebhookDelivery.objects.filter(
                status__in=["pending", "processing"], received_at__gte=scenario_started
            ).exists()
        ),
        timeout=300,
        what="deliveries processed",
    )
    # Statuses that beat the send result are retried by beat's unmatched sweep: give it time.
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: all_match(truth), timeout=120, what="final statuses equal the truth")
    sample_ranks()
    final = dict(Message.objects.filter(pk__in=ids).values_list("id", "status"))
    wrong = [message_id for message_id, status in truth.items() if final[message_id] != status]
    non_200 = sum(1 for status in answers if status != 200)
    verdict.counts.update(
        messages=size,
        racing_the_send_result=len(racing),
        wrong_final_status=len(wrong),
        regressions=sum(regressions.values()),
        non_200=non_200,
    )
    verdict.require(not wrong, f"{len(wrong)} messages end in another state than Meta said")
    verdict.require(not regressions, f"{len(regressions)} messages moved backwards")
    verdict.require(non_200 == 0, f"{non_200} webhooks not acknowledged with 200")
    env.stop(worker)
    return verdict


RANK = {"sending": 0, "sent": 1, "failed": 1.5, "delivered": 2, "read": 3}


def all_match(truth: dict[int, str]) -> bool:
    from campaigns.models import Message

    final = dict(Message.objects.filter(pk__in=list(truth)).values_list("id", "status"))
    return all(final.get(message_id) == status for message_id, status in truth.items())


def _status_body(message_id: int, wamid: str, recipient: str, status: str, timestamp: int) -> bytes:
    extra = {}
    if status == "failed":
        extra["errors"] = [
            {
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ]
    return _envelope(
        {
            "statuses": [
                payloads.status(
                    wamid=wamid,
                    status=status,
                    timestamp=timestamp,
                    recipient=recipient,
                    callback=f"tidings:{message_id}",
                    **extra,
                )
            ]
        }
    )


def _envelope(value: dict) -> bytes:
    return payloads.encoded(payloads.messages_webhook(value))


def _signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_all(
    base_url: str,
    bodies: list[bytes],
    *,
    signed: bool = True,
    concurrency: int = 16,
    on_batch: Callable[[], None] | None = None,
    headers: Callable[[bytes], dict] | None = None,
) -> list[int]:
    """POST every body to the webhook endpoint, `concurrency` at a time; the status codes."""
    from aiohttp import ClientSession, ClientTimeout

    url = f"{base_url}/webhooks/whatsapp/"

    async def run() -> list[int]:
        statuses: list[int] = []
        semaphore = asyncio.Semaphore(concurrency)
        async with ClientSession(timeout=ClientTimeout(total=30)) as session:

            async def one(body: bytes) -> None:
                extra = headers(body) if headers else {}
                if signed and "X-Hub-Signature-256" not in extra:
                    extra["X-Hub-Signature-256"] = _signature(body)
                async with (
                    semaphore,
                    session.post(
                        url, data=body, headers={"Content-Type": "application/json", **extra}
                    ) as response,
                ):
                    await response.read()
                    statuses.append(response.status)

            for start in range(0, len(bodies), 2000):
                await asyncio.gather(*(one(body) for body in bodies[start : start + 2000]))
                if on_batch:
                    await asyncio.to_thread(on_batch)
        return statuses

    return asyncio.run(run())


def stop_keyword_mid_campaign(env: BenchEnvironment, size: int) -> Verdict:
    from campaigns.dispatch import callback_data_for
    from campaigns.models import Message
    from contacts.models import ConsentRecord

    verdict = Verdict("5. 100 recipients send STOP mid-campaign")
    worker = env.start_worker(concurrency=4, name="stop")
    rate = max(SEND_RATE // 4, 50)
    campaign_id = start_campaign(env, recipients=size, cap=rate, name="Faults: STOP")
    wait_until(lambda: accepted_count(env) >= size * 0.2, timeout=120, what="20% sent")
    # The last 100 recipients in sending order that Meta has not seen yet: queued, or claimed by
    # a worker whose chunk has not reached them.
    already_sent = set(env.meta.ledger_ids())
    waiting = [
        row
        for row in Message.objects.filter(
            campaign_id=campaign_id, status__in=["queued", "deferred", "sending"]
        )
        .order_by("-id")
        .values_list("id", "contact_id", "contact__phone")[:400]
        if callback_data_for(row[0]) not in already_sent
    ][:100]
    bodies = [
        _envelope(
            {
                "contacts": [{"profile": {"name": "Customer"}, "wa_id": phone.lstrip("+")}],
                "messages": [
                    {
                        "from": phone.lstrip("+"),
                        "id": f"wamid.STOP{message_id:012d}",
                        "timestamp": str(int(time.time())),
                        "type": "text",
                        "text": {"body": random.choice(["STOP", "stop", " Stop ", "UNSUBSCRIBE"])},
                    }
                ],
            }
        )
        for message_id, _contact_id, phone in waiting
    ]
    posted_at = time.monotonic()
    answers = post_all(env.web_url, bodies)
    contact_ids = [contact_id for _message_id, contact_id, _phone in waiting]
    wait_until(
        lambda: (
            ConsentRecord.objects.filter(
                contact_id__in=contact_ids, action="opt_out", source="inbound_keyword"
            ).count()
            >= len(contact_ids)
        ),
        timeout=60,
        what="opt-outs recorded",
    )
    recorded_in = time.monotonic() - posted_at
    opted_out_at = {
        contact_id: recorded_at.timestamp()
        for contact_id, recorded_at in ConsentRecord.objects.filter(
            contact_id__in=contact_ids, action="opt_out", source="inbound_keyword"
        ).values_list("contact_id", "recorded_at")
    }
    finish(env, campaign_id, timeout=size / rate * 4 + 120)
    # Inside: no send may be handed over after its contact's opt-out was recorded. Outside: Meta's
    # stand-in saw no request for them later than the hand-over window after the opt-out (a
    # batch handed over just before the opt-out still leaves within that window).
    handed_over = dict(
        Message.objects.filter(pk__in=[row[0] for row in waiting]).values_list(
            "id", "handed_over_at"
        )
    )
    times = env.meta.ledger_times()
    decided_after, arrived_after, in_flight = 0, 0, 0
    window = RESERVATION_HORIZON_SECONDS + 0.5
    for message_id, contact_id, _phone in waiting:
        opted_out = opted_out_at[contact_id]
        if handed_over[message_id] and handed_over[message_id].timestamp() > opted_out:
            decided_after += 1
        for accepted_at in times.get(callback_data_for(message_id), []):
            if accepted_at > opted_out + window:
                arrived_after += 1
            elif accepted_at > opted_out:
                in_flight += 1
    check_ledger(verdict, env, campaign_id)
    # Their turn was seconds away when they wrote STOP: the opt-outs must have stopped nearly
    # all of them (a few may already have been on their way).
    stopped = Message.objects.filter(pk__in=[row[0] for row in waiting], status="skipped").count()
    verdict.counts.update(
        opted_out=len(opted_out_at),
        opt_outs_recorded_in_s=round(recorded_in, 1),
        stopped_by_the_opt_out=stopped,
        handed_over_after_opt_out=decided_after,
        reached_meta_after_opt_out=arrived_after,
        in_flight_at_opt_out=in_flight,
        non_200=sum(1 for status in answers if status != 200),
    )
    verdict.require(len(opted_out_at) == 100, f"only {len(opted_out_at)} of 100 opt-outs recorded")
    verdict.require(
        stopped >= 0.9 * len(waiting), f"only {stopped} of {len(waiting)} stopped by their STOP"
    )
    verdict.require(decided_after == 0, f"{decided_after} sends handed over after the opt-out")
    verdict.require(arrived_after == 0, f"{arrived_after} sends reached Meta after the opt-out")
    env.stop(worker)
    return verdict


def token_expired_mid_campaign(env: BenchEnvironment, size: int) -> Verdict:
    from campaigns.models import Campaign
    from campaigns.services import campaign_resume

    verdict = Verdict("6. the access token expires mid-campaign, then is fixed")
    worker = env.start_worker(concurrency=4, name="token")
    rate = max(SEND_RATE // 2, 50)
    campaign_id = start_campaign(env, recipients=size, cap=rate, name="Faults: token")
    wait_until(lambda: accepted_count(env) >= size * 0.3, timeout=120, what="30% sent")
    env.meta.configure(expired_token=True)
    wait_until(lambda: campaign_status(campaign_id) == "stopped", timeout=60, what="stopped")
    reason = Campaign.objects.values_list("status_reason", flat=True).get(pk=campaign_id)
    accepted_while_stopped = accepted_count(env)
    verdict.counts["accepted_before_stop"] = accepted_while_stopped
    verdict.require("token" in reason.lower() or "190" in reason, f"stop reason: {reason!r}")
    env.meta.configure(expired_token=False)
    time.sleep(LEASE_SECONDS + 2)
    campaign_resume(campaign_id=campaign_id)
    finish(env, campaign_id, timeout=size / rate * 4 + LEASE_SECONDS * 6 + 60)
    check_ledger(verdict, env, campaign_id)
    verdict.require(
        campaign_status(campaign_id) == "completed",
        f"campaign ended {campaign_status(campaign_id)}, not completed",
    )
    env.stop(worker)
    return verdict


def bad_input(env: BenchEnvironment, size: int) -> Verdict:
    """Hostile and broken input at every door: all refused with 4xx or row errors, none a 500,
    and nothing already stored is lost."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from contacts.models import ConsentRecord, Contact
    from webhooks.models import WebhookDelivery

    verdict = Verdict("7. bad input: signatures, broken JSON, huge bodies, invalid phones")
    rng = random.Random(7)
    contacts_before = Contact.objects.count()
    consents_before = ConsentRecord.objects.count()
    deliveries_before = WebhookDelivery.objects.count()
    valid = _status_body(1, "wamid.FAULTS", "447700000001", "delivered", int(time.time()))
    unsigned = [valid] * 20
    wrongly_signed = [valid[: len(valid) // 2] + b"x" for _ in range(20)]
    truncated = [valid[: rng.randrange(1, len(valid))] for _ in range(100)]
    random_bytes = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(50)
    ]
    random_json = [json.dumps(_random_json(rng)).encode() for _ in range(100)]
    answers = Counter()
    for status in post_all(env.web_url, unsigned, signed=False):
        answers[f"unsigned:{status}"] += 1
    for status in post_all(
        env.web_url,
        wrongly_signed,
        headers=lambda body: {"X-Hub-Signature-256": _signature(b"other")},
    ):
        answers[f"wrong_signature:{status}"] += 1
    for status in post_all(env.web_url, truncated + random_bytes + random_json):
        answers[f"signed_garbage:{status}"] += 1
    huge = b"{" + b" " * (3 * 1024 * 1024 + 10) + b"}"
    response = requests.post(
        f"{env.web_url}/webhooks/whatsapp/",
        data=huge,
        headers={"X-Hub-Signature-256": _signature(huge)},
        timeout=30,
    )
    answers[f"huge:{response.status_code}"] += 1

    user, _ = get_user_model().objects.get_or_create(
        username="faults-integrator", defaults={"is_staff": False, "is_superuser": True}
    )
    token, _ = Token.objects.get_or_create(user=user)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token.key}"
    for phone in ["12", "+1 (415) 555-01", "not a phone", "+999 123", "", "0" * 40, "+44 20"]:
        reply = api.post(
            f"{env.web_url}/api/v1/contacts/", json={"phone": phone, "name": "X"}, timeout=10
        )
        answers[f"api_invalid_phone:{reply.status_code}"] += 1
    reply = api.post(
        f"{env.web_url}/api/v1/contacts/bulk-upsert/",
        json={"contacts": [{"phone": "nope"}, {"phone": ["+447700900001"]}, {"name": {"x": 1}}]},
        timeout=10,
    )
    answers[f"api_bulk_junk:{reply.status_code}"] += 1
    reply = api.post(f"{env.web_url}/api/v1/contacts/", data="{broken", timeout=10,
                     headers={"Content-Type": "application/json"})  # fmt: skip
    answers[f"api_broken_json:{reply.status_code}"] += 1
    csv_rows = "phone,name\n" + "\n".join(f"bad-{index},Row {index}" for index in range(size // 10))
    reply = api.post(
        f"{env.web_url}/api/v1/contact-imports/",
        files={"file": ("bad.csv", io.BytesIO(csv_rows.encode()), "text/csv")},
        timeout=30,
    )
    answers[f"import_bad_rows:{reply.status_code}"] += 1
    rejected_rows = 0
    if reply.status_code in (200, 201, 202):
        import_id = reply.json()["id"]

        def import_done() -> bool:
            state = api.get(f"{env.web_url}/api/v1/contact-imports/{import_id}/", timeout=10).json()
            return state.get("status") in {"completed", "failed"}

        worker = env.start_worker(concurrency=2, name="imports")
        wait_until(import_done, timeout=120, what="import finished")
        env.stop(worker)
        state = api.get(f"{env.web_url}/api/v1/contact-imports/{import_id}/", timeout=10).json()
        rejected_rows = int(state.get("rejected_count", 0))
    for not_csv in [b"\x00\x01\x02binary", b"", b"name\nno phone column\n"]:
        reply = api.post(
            f"{env.web_url}/api/v1/contact-imports/",
            files={"file": ("broken.csv", io.BytesIO(not_csv), "text/csv")},
            timeout=30,
        )
        answers[f"import_unusable_file:{reply.status_code}"] += 1
    server_errors = sum(count for key, count in answers.items() if key.endswith(":500"))
    verdict.counts.update(dict(sorted(answers.items())))
    verdict.counts["import_rejected_rows"] = rejected_rows
    verdict.counts["server_errors"] = server_errors
    verdict.require(server_errors == 0, f"{server_errors} answers were 500")
    for key, count in answers.items():
        door, status = key.rsplit(":", 1)
        allowed = {"signed_garbage": {"200"}, "import_bad_rows": {"200", "201", "202"}}.get(door)
        if allowed is None:
            verdict.require(status.startswith("4"), f"{count} x {door} answered {status}")
        else:
            verdict.require(status in allowed, f"{count} x {door} answered {status}")
    verdict.require(rejected_rows == size // 10, f"{rejected_rows} of {size // 10} rows rejected")
    verdict.require(Contact.objects.count() == contacts_before, "contacts changed")
    verdict.require(ConsentRecord.objects.count() == consents_before, "consent records changed")
    verdict.require(
        WebhookDelivery.objects.count() - deliveries_before
        <= len(truncated + random_bytes + random_json),
        "more deliveries stored than validly signed bodies posted",
    )
    return verdict


def _random_json(rng: random.Random, depth: int = 0):
    kinds = ["int", "str", "list", "dict", "null", "bool"] if depth < 3 else ["int", "str"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randrange(-(10**12), 10**12)
    if kind == "str":
        return "".join(rng.choice('abcwamid.{}[]"\\é\u0000 ') for _ in range(rng.randrange(12)))
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == "dict":
        keys = ["object", "entry", "changes", "value", "statuses", "messages", "id", "status"]
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return None if kind == "null" else rng.random() < 0.5


SCENARIOS = [
    worker_killed_mid_campaign,
    flaky_meta,
    servers_restarted,
    shuffled_status_webhooks,
    stop_keyword_mid_campaign,
    token_expired_mid_campaign,
    bad_input,
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=int(os.environ.get("FAULTS_SIZE", 10_000)))
    parser.add_argument("--only", type=int, action="append", help="run scenario N (repeatable)")
    args = parser.parse_args(argv)
    os.environ.update(
        {
            "TIDINGS_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
            "WHATSAPP_HTTP_READ_TIMEOUT": str(READ_TIMEOUT_SECONDS),
            "TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS": "120",
            # The stand-in reports within a second; the proof window is shortened to match.
            "TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS": "5",
            # A killed worker's webhook batch is taken back sooner than in production.
            "TIDINGS_WEBHOOK_PROCESSING_TIMEOUT_SECONDS": "20",
        }
    )
    started = time.monotonic()
    verdicts: list[Verdict] = []
    with BenchEnvironment(dispatch_concurrency=128) as env:
        env.start_web(workers=3)
        env.start_meta(latency=0.2, webhook_url=f"{env.web_url}/webhooks/whatsapp/")
        env.start_beat()
        for number, scenario in enumerate(SCENARIOS, start=1):
            if args.only and number not in args.only:
                continue
            print(f"faults: scenario {number} ({args.size:,} messages)", flush=True)
            try:
                verdict = scenario(env, args.size)
            except Exception as error:  # a scenario that cannot finish is a failure, not a crash
                verdict = Verdict(
                    f"{number}. {scenario.__name__}", passed=False, problems=[repr(error)]
                )
            verdicts.append(verdict)
            print(verdict.line(), flush=True)
    print()
    for verdict in verdicts:
        print(verdict.line())
    failed = [verdict for verdict in verdicts if not verdict.passed]
    print(
        f"\nfaults: {len(verdicts) - len(failed)} passed, {len(failed)} failed "
        f"in {time.monotonic() - started:.0f} s ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
