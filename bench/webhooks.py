"""Webhook ingest: how many signed status webhooks the endpoint acknowledges per second, its p99
acknowledgement latency, and how long until every status is applied to the message ledger.

The load comes from `wrk` (a C load generator, so the client does not eat the CPU Tidings needs)
replaying signed `delivered` and `read` webhooks, one status per POST as Meta usually sends them,
for messages that exist in the ledger. The web server is gunicorn on production-like settings; a
Celery worker processes what was stored. The run measures:

- acknowledged requests per second and the p99 latency of the answer (wrk's own figures);
- seconds from the first request until no stored delivery is left unprocessed and every message
  carries the status the webhooks said (`read`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import payloads
from .environment import APP_SECRET

WRK_SCRIPT = """
local requests = {}
init = function(args)
  local file = io.open(args[1], "r")
  for line in file:lines() do
    local tab = line:find("\\t", 1, true)
    local signature = line:sub(1, tab - 1)
    local body = line:sub(tab + 1)
    requests[#requests + 1] = wrk.format("POST", "/webhooks/whatsapp/", {
      ["Content-Type"] = "application/json",
      ["X-Hub-Signature-256"] = signature,
    }, body)
  end
  file:close()
  -- Each thread starts at its own offset so threads do not post the same bodies.
  counter = (tonumber(args[2]) or 0) % #requests
end
request = function()
  counter = counter + 1
  if counter > #requests then counter = 1 end
  return requests[counter]
end
"""


@dataclass
class IngestRun:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    statuses_posted: int
    seconds_until_applied: float
    applied: int
    web_workers: int


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("bench: the webhook benchmark needs wrk (apt-get install -y wrk)")
    return path


def seed_sent_messages(count: int) -> list[tuple[int, str, str]]:
    """`count` messages in `sent` state with wamids: (message id, wamid, recipient wa_id)."""
    from django.utils import timezone

    from campaigns.models import Message
    from contacts.models import Contact

    from .dispatch import make_campaign, seed_audience

    seed_audience(count)
    campaign = make_campaign(recipients=count, cap=1000, name=f"Webhook bench {time.time():.0f}")
    contacts = list(
        Contact.objects.filter(tags__name=f"bench-first-{count}")
        .order_by("id")
        .values_list("id", "phone")[:count]
    )
    # Sent an hour ago: Meta's pair rate (one message per user per ~6 s) must not hold back the
    # campaign benchmarks that follow to the same contacts.
    now = timezone.now() - dt.timedelta(hours=1)
    run = hashlib.sha256(str(time.time()).encode()).hexdigest()[:8]
    messages = Message.objects.bulk_create(
        [
            Message(
                campaign=campaign,
                contact_id=contact_id,
                sender=campaign.sender,
                template=campaign.template,
                category=campaign.template.category,
                idempotency_key=f"webhook-bench:{run}:{contact_id}",
                status="sent",
                wamid=f"wamid.HOOK{run}{index:010d}",
                sent_at=now,
                attempts=1,
            )
            for index, (contact_id, _phone) in enumerate(contacts)
        ],
        batch_size=5000,
    )
    return [
        (message.pk, message.wamid, phone.lstrip("+"))
        for message, (_contact_id, phone) in zip(messages, contacts, strict=True)
    ]


def status_body(
    *, wamid: str, recipient: str, status: str, timestamp: int, message_id: int
) -> bytes:
    """One status webhook in Meta's shape (one entry, one change, one status)."""
    extra = {}
    if status == "delivered":
        extra["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "utility",
            "type": "regular",
        }
    return payloads.encoded(
        payloads.messages_webhook(
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
    )


def write_requests(messages: list[tuple[int, str, str]], path: Path) -> int:
    """Signed delivered + read webhooks for every message, one per line: `signature<TAB>body`."""
    base = int(dt.datetime.now(dt.UTC).timestamp())
    lines = 0
    with path.open("w") as out:
        for status, offset in (("delivered", 1), ("read", 2)):
            for message_id, wamid, recipient in messages:
                body = status_body(
                    wamid=wamid,
                    recipient=recipient,
                    status=status,
                    timestamp=base + offset,
                    message_id=message_id,
                )
                digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
                out.write(f"sha256={digest}\t{body.decode()}\n")
                lines += 1
    return lines


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip()).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> dict:
    figures = {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": _milliseconds(re.search(r"\s50%\s+(\S+)", output).group(1)),
        "p99_ms": _milliseconds(re.search(r"\s99%\s+(\S+)", output).group(1)),
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    return figures


def bench_webhook_ingest(
    env,
    *,
    messages: int = 15_000,
    seconds: float = 10.0,
    connections: int = 32,
    web_workers: int = 4,
) -> IngestRun:
    """Post signed status webhooks for `messages` messages (two statuses each) for `seconds`."""
    from django.db.models import Q

    from campaigns.models import Message
    from webhooks.models import WebhookDelivery

    seeded = seed_sent_messages(messages)
    ids = [message_id for message_id, _wamid, _recipient in seeded]
    workdir = Path(tempfile.mkdtemp(prefix="tidings-wrk-"))
    requests_file = workdir / "requests.tsv"
    posted = write_requests(seeded, requests_file)
    script = workdir / "webhooks.lua"
    script.write_text(WRK_SCRIPT)
    web = env.start_web(workers=web_workers)
    worker = env.start_worker(concurrency=2, name="webhooks", queues="webhooks")
    time.sleep(2.0)
    threads = 2
    started = time.monotonic()
    result = subprocess.run(
        [
            wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency",
            "-s", str(script), env.web_url, "--", str(requests_file), str(posted // threads),
        ],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    figures = parse_wrk(result.stdout)
    deadline = time.monotonic() + 300
    while True:
        open_deliveries = WebhookDelivery.objects.filter(
            Q(status="pending") | Q(status="processing")
        ).exists()
        if not open_deliveries:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("webhook deliveries still unprocessed after 300 s")
        time.sleep(0.2)
    applied_seconds = time.monotonic() - started
    applied = Message.objects.filter(pk__in=ids, status="read").count()
    env.stop(worker)
    env.stop(web)
    shutil.rmtree(workdir, ignore_errors=True)
    return IngestRun(
        requests_per_second=figures["requests_per_second"],
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        requests=figures["requests"],
        non_2xx=figures["non_2xx"],
        statuses_posted=min(figures["requests"], posted),
        seconds_until_applied=applied_seconds,
        applied=applied,
        web_workers=web_workers,
    )
