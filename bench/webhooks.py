"""Webhook ingest: how many signed status webhooks the endpoint acknowledges per second, the
latency of the answer, and how long until every status is applied to the message ledger.

The load comes from `wrk` (a C load generator, so the client does not eat the CPU Tidings needs)
posting signed `delivered` and `read` webhooks, one status per POST as Meta usually sends them,
for messages that exist in the ledger; the two threads start at different statuses, so a `read`
often comes before its `delivered`. The web server is granian (`config.web_server`) on production
settings; a Celery worker, at a lower CPU priority (`nice -n 10`), processes what was stored while
the load runs. Two phases, each on messages of its own (no body is posted twice):

- **saturated**: every connection posts again as soon as it is answered, so the figure is the most
  the two cores acknowledge, with its latency at that load;
- **paced** at Meta's rate for 1,000 sends per second (3,000 statuses per second): wrk sends on a
  fixed schedule per thread (LuaJIT's clock; a late send goes at once, so a stall is not hidden by
  waiting for it), and the latency is the one Meta would see at that rate.

Each phase waits until no stored delivery is left unprocessed and every message carries the
status the webhooks said (`read`), and starts on a settled database (`settle_database`).
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
from .environment import APP_SECRET, settle_database

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
  local rate = tonumber(args[3]) or 0
  if rate > 0 then interval_ms = 1000 / rate end
end
request = function()
  counter = counter + 1
  if counter > #requests then counter = 1 end
  return requests[counter]
end
"""

# Added for the paced phase: wrk asks `delay` before each request how long to wait.
WRK_PACING = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } tidings_timespec;
int clock_gettime(int clock, tidings_timespec *now);
]]
local clock = ffi.new("tidings_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local next_send = nil
delay = function()
  local now = now_ms()
  -- Slots more than a second in the past are given up (the achieved rate shows them).
  if next_send == nil or next_send < now - 1000 then next_send = now end
  local wait = next_send - now
  next_send = next_send + interval_ms
  if wait > 0 then return wait end
  return 0
end
"""

# Meta's statuses at 1,000 sends per second: sent, delivered and read for each.
META_STATUS_RATE = 3000


@dataclass
class IngestPhase:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    target_rate: int  # 0 when saturated
    seconds_until_applied: float  # from the first request
    messages: int
    applied: int


@dataclass
class IngestRun:
    saturated: IngestPhase
    paced: IngestPhase
    web_workers: int
    web_threads: int
    connections: int


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
    messages: int = 30_000,
    paced_messages: int = 16_000,
    seconds: float = 10.0,
    connections: int = 64,
    web_workers: int = 2,
    web_threads: int = 8,
) -> IngestRun:
    """The saturated phase on `messages` messages, then the paced one on `paced_messages` (two
    statuses each), each posting for `seconds`."""
    saturated_messages = seed_sent_messages(messages)
    paced_seeded = seed_sent_messages(paced_messages)
    settle_database()
    web = env.start_web(workers=web_workers, threads=web_threads)
    # Below the web server's CPU priority, as the README advises when both share a host: the
    # acknowledgement is what Meta waits for, and processing may lag a moment behind it.
    worker = env.start_worker(concurrency=2, name="webhooks", queues="webhooks", niceness=10)
    time.sleep(2.0)
    try:
        saturated = _phase(env, saturated_messages, seconds=seconds, connections=connections)
        settle_database()
        paced = _phase(
            env, paced_seeded, seconds=seconds, connections=connections, rate=META_STATUS_RATE
        )
    finally:
        env.stop(worker)
        env.stop(web)
    return IngestRun(
        saturated=saturated,
        paced=paced,
        web_workers=web_workers,
        web_threads=web_threads,
        connections=connections,
    )


def _phase(
    env, seeded: list[tuple[int, str, str]], *, seconds: float, connections: int, rate: int = 0
) -> IngestPhase:
    from django.db.models import Q

    from campaigns.models import Message
    from webhooks.models import WebhookDelivery

    workdir = Path(tempfile.mkdtemp(prefix="tidings-wrk-"))
    requests_file = workdir / "requests.tsv"
    posted = write_requests(seeded, requests_file)
    script = workdir / "webhooks.lua"
    script.write_text(WRK_SCRIPT + (WRK_PACING if rate else ""))
    threads = 2
    started = time.monotonic()
    result = subprocess.run(
        [
            wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency",
            "-s", str(script), env.web_url,
            "--", str(requests_file), str(posted // threads), str(rate / threads),
        ],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    figures = parse_wrk(result.stdout)
    deadline = time.monotonic() + 300
    while WebhookDelivery.objects.filter(Q(status="pending") | Q(status="processing")).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("webhook deliveries still unprocessed after 300 s")
        time.sleep(0.2)
    applied_seconds = time.monotonic() - started
    ids = [message_id for message_id, _wamid, _recipient in seeded]
    applied = Message.objects.filter(pk__in=ids, status="read").count()
    shutil.rmtree(workdir, ignore_errors=True)
    if figures["requests"] > posted:
        raise RuntimeError(f"wrk posted {figures['requests']:,} of {posted:,} bodies: seed more")
    return IngestPhase(
        requests_per_second=figures["requests_per_second"],
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        requests=figures["requests"],
        non_2xx=figures["non_2xx"],
        target_rate=rate,
        seconds_until_applied=applied_seconds,
        messages=len(seeded),
        applied=applied,
    )
