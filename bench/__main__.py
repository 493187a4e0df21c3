"""`make bench` (`python -m bench`): Tidings measured against Meta's limits, in one table.

Starts PostgreSQL, Redis, the Meta and CRM stand-ins, real Celery workers and the web server
(granian) on loopback, runs every benchmark, prints the table and writes it to docs/benchmarks.md
with the date, the machine and the command. `--quick` runs smaller sizes (a smoke test of the
harness; its figures are not the ones to quote).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"

META_LATENCY_SECONDS = 0.2
META_PER_NUMBER_TIER = 1000
LIFTED_CAP = 5000
THROTTLE_CAP = 80
PAIR_RATE_SECONDS = 7


@dataclasses.dataclass
class Sizes:
    throughput: int = 10_000
    naive: int = 1_000
    throttle: int = 800
    personalisation: int = 2_000
    webhook_messages: int = 30_000
    webhook_paced_messages: int = 16_000
    webhook_seconds: float = 10.0
    contact_import: int = 100_000
    scaling: tuple[int, ...] = (1_000, 10_000, 100_000)


QUICK = Sizes(
    throughput=2_000,
    naive=50,
    throttle=240,
    personalisation=300,
    webhook_messages=6_000,
    webhook_paced_messages=5_000,
    webhook_seconds=3.0,
    contact_import=5_000,
    scaling=(500, 2_000),
)


def machine() -> dict[str, str]:
    import celery
    import django
    import psutil
    from django.db import connection
    from django_redis import get_redis_connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_version = get_redis_connection("default").info("server")["redis_version"]
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 1024**3:.0f} GiB",
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "celery": celery.__version__,
        "postgresql": postgres.split()[0],
        "redis": redis_version,
    }


def _number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def run(sizes: Sizes) -> tuple[list[tuple[str, str, str]], dict]:
    from . import audit_export, dispatch, personalisation, webhooks
    from .contacts_import import bench_contact_import
    from .environment import BenchEnvironment, settle_database

    rows: list[tuple[str, str, str]] = []
    details: dict = {}
    with BenchEnvironment() as env:
        details["machine"] = machine()
        env.start_meta(latency=META_LATENCY_SECONDS)
        env.start_beat()

        # A script sending one request at a time spends its life waiting, so it runs beside the
        # first benchmarks on a stand-in of its own without taking CPU from them.
        naive_stand_in = env.start_meta(latency=META_LATENCY_SECONDS, separate=True)
        naive: dict[str, float] = {}
        naive_thread = threading.Thread(
            target=lambda: naive.update(
                rate=dispatch.naive_sequential(naive_stand_in.base_url, messages=sizes.naive)
            ),
            daemon=True,
        )
        naive_thread.start()

        print("bench: contact import", flush=True)
        imported = bench_contact_import(sizes.contact_import)
        details["contact_import"] = imported
        settle_database()

        print("bench: personalisation", flush=True)
        personalised = personalisation.bench_personalisation(sizes.personalisation)
        details["personalisation"] = personalised

        print("bench: webhook ingest", flush=True)
        ingest = webhooks.bench_webhook_ingest(
            env,
            messages=sizes.webhook_messages,
            paced_messages=sizes.webhook_paced_messages,
            seconds=sizes.webhook_seconds,
        )
        details["webhook_ingest"] = dataclasses.asdict(ingest)
        settle_database()

        print("bench: throttle at 80/s", flush=True)
        throttled = dispatch.run_campaign(
            env, recipients=sizes.throttle, cap=THROTTLE_CAP, name="Bench throttle 80/s"
        )
        details["throttle"] = dataclasses.asdict(throttled)

        scaling: dict[int, dispatch.CampaignRun] = {}
        for recipients in sorted({*sizes.scaling, sizes.throughput}):
            # The runs message the same contacts: let Meta's pair rate (~6 s) pass in between.
            time.sleep(PAIR_RATE_SECONDS)
            print(f"bench: campaign of {recipients:,} recipients, cap lifted", flush=True)
            scaling[recipients] = dispatch.run_campaign(
                env, recipients=recipients, cap=LIFTED_CAP, name=f"Bench {recipients}"
            )
        details["campaigns"] = {str(k): dataclasses.asdict(v) for k, v in scaling.items()}

        print("bench: message audit export", flush=True)
        from campaigns.models import Campaign

        exports = audit_export.bench_audit_export(
            {
                size: Campaign.objects.filter(name=f"Bench {size}").latest("id").pk
                for size in scaling
            }
        )
        details["audit_export"] = {str(k): v for k, v in exports.items()}

        naive_thread.join(timeout=sizes.naive * META_LATENCY_SECONDS * 3 + 30)
        details["naive_messages_per_second"] = naive.get("rate")

    concurrency = env.dispatch_concurrency
    in_flight = concurrency * env.worker_processes
    limit = min(LIFTED_CAP, in_flight / META_LATENCY_SECONDS)
    throughput = scaling[sizes.throughput]
    duplicates = sum(run_.standin_duplicates for run_ in [throttled, *scaling.values()])
    rows.append(
        (
            f"campaign throughput, {sizes.throughput:,} recipients, cap lifted (start → all "
            "recorded)",
            f"**{_number(throughput.messages_per_second)} msg/s** "
            f"({throughput.sent:,} sent in {throughput.seconds:.1f} s; "
            f"duplicates at Meta's stand-in: {throughput.standin_duplicates})",
            f"limit min(cap {LIFTED_CAP:,}, {env.worker_processes} workers of {concurrency} in "
            f"flight ÷ {META_LATENCY_SECONDS * 1000:.0f} ms) = {_number(limit)}/s; Meta's "
            f"per-number tier {META_PER_NUMBER_TIER:,}/s; naive sequential sender "
            f"{_number(naive.get('rate', 0.0), 1)} msg/s ({sizes.naive:,} messages)",
        )
    )
    rows.append(
        (
            f"throttle accuracy at cap {THROTTLE_CAP}/s ({throttled.sent:,} messages)",
            f"**{throttled.max_in_any_second}** in the busiest 1-second window; mean "
            f"{_number(throttled.standin_mean_rate, 1)}/s",
            f"{THROTTLE_CAP}",
        )
    )
    cold, warm = personalised["cold"], personalised["warm"]
    rows.append(
        (
            f"personalisation, {sizes.personalisation:,} recipients: CRM calls per recipient "
            "(cold cache / second campaign within TTL)",
            f"**{cold['crm_calls_per_recipient']:.3f} / {warm['crm_calls_per_recipient']:.3f}**",
            "1 / 0",
        )
    )
    rows.append(
        (
            "personalisation: warm-cache cost per message",
            f"**{warm['us_per_message']:.0f} µs**",
            f"uncached: {personalised['uncached_message_ms']:.0f} ms per message (CRM answering "
            f"after {personalised['crm_latency_ms']:.0f} ms)",
        )
    )
    saturated, paced = ingest.saturated, ingest.paced
    server = (
        f"granian, {ingest.web_workers} workers of {ingest.web_threads} threads, "
        f"{ingest.connections} connections"
    )
    rows.append(
        (
            f"webhook ingest, saturated ({server}; {saturated.requests:,} signed status POSTs)",
            f"**{_number(saturated.requests_per_second)} req/s** acknowledged, p99 "
            f"{saturated.p99_ms:.1f} ms (p50 {saturated.p50_ms:.1f} ms, non-2xx "
            f"{saturated.non_2xx}); all applied {saturated.seconds_until_applied:.1f} s after the "
            f"first request ({saturated.applied:,} of {saturated.messages:,} messages read)",
            "≥ 3,000/s (three statuses per message at 1,000 msg/s)",
        )
    )
    rows.append(
        (
            f"webhook ingest, paced at {paced.target_rate:,}/s ({paced.requests:,} POSTs)",
            f"p99 **{paced.p99_ms:.1f} ms** at {_number(paced.requests_per_second)} req/s "
            f"(p50 {paced.p50_ms:.1f} ms, non-2xx {paced.non_2xx}); all applied "
            f"{paced.seconds_until_applied:.1f} s after the first request ({paced.applied:,} of "
            f"{paced.messages:,} messages read)",
            "p99 < 50 ms",
        )
    )
    rows.append(
        (
            "message audit export (streamed CSV): peak RSS of the exporting process",
            ", ".join(
                f"{size:,} rows: **{export['peak_rss_mb']:.0f} MB** "
                f"({_number(export['rows_per_second'])} rows/s)"
                for size, export in sorted(exports.items())
            ),
            "flat",
        )
    )
    rows.append(
        (
            f"contact import, {imported['rows']:,} rows",
            f"**{_number(imported['rows_per_second'])} rows/s** ({imported['seconds']:.1f} s)",
            "100,000 rows in under a minute",
        )
    )
    scaling_cpu = ", ".join(
        f"{recipients:,}: **{_number(item.worker_cpu_seconds / max(item.sent, 1) * 1e6)} µs**"
        for recipients, item in sorted(scaling.items())
    )
    scaling_rss = ", ".join(
        f"{recipients:,}: **{item.worker_peak_rss_mb:.0f} MB**"
        for recipients, item in sorted(scaling.items())
    )
    scaling_rate = ", ".join(
        f"{recipients:,}: {_number(item.messages_per_second)} msg/s"
        for recipients, item in sorted(scaling.items())
    )
    rows.append(("scaling: worker CPU per message", scaling_cpu, "flat"))
    rows.append(("scaling: worker peak RSS", scaling_rss, "flat"))
    rows.append(("scaling: throughput", scaling_rate, "flat"))
    rows.append(
        (
            "messages sent twice, all campaign runs (counted by Meta's stand-in)",
            f"**{duplicates}**",
            "0",
        )
    )
    return rows, details


def table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| figure | measured | compare with |", "|---|---|---|"]
    lines += [f"| {figure} | {measured} | {compare} |" for figure, measured, compare in rows]
    return "\n".join(lines)


def write_report(rows: list[tuple[str, str, str]], details: dict, command: str) -> None:
    facts = details["machine"]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine_line = (
        f"{facts['cores']} cores ({facts['cpu']}), {facts['memory']}, Python {facts['python']}, "
        f"Django {facts['django']}, Celery {facts['celery']}, PostgreSQL {facts['postgresql']}, "
        f"Redis {facts['redis']}"
    )
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        "# Benchmarks\n\n"
        f"Latest run: {when}, `{command}`.\n\n"
        f"Machine: {machine_line}. Everything ran on this one machine: PostgreSQL, Redis, "
        "Celery workers, the web server (granian), Meta's stand-in (answering after "
        f"{META_LATENCY_SECONDS * 1000:.0f} ms) and the load generators.\n\n"
        f"{table(rows)}\n\n"
        "How each figure is taken (PostgreSQL keeps its durable defaults, fsync and synchronous "
        "commit, as in production; each benchmark starts on a vacuumed, checkpointed database):"
        "\n\n"
        "- **Campaign throughput** starts a campaign through `campaign_start` (as the admin and "
        "API do); a Celery worker process plans and dispatches it over Redis; the clock stops "
        "when every message is recorded in PostgreSQL. Duplicates and the busiest second are "
        "counted by Meta's stand-in from what it accepted, independently of Tidings's database. "
        "Two fresh worker processes first send a 200-message warm-up campaign to contacts of "
        "their own, as long-lived production workers are warm; the CPU and memory figures are "
        "taken from the measured campaign only.\n"
        "- **Naive sequential sender**: one `requests` POST at a time, as a simple script does.\n"
        "- **Personalisation**: a data source on the CRM stand-in (300 ms per answer); the cold "
        "run fetches every contact, the warm run is a second campaign within the TTL.\n"
        "- **Webhook ingest**: `wrk` posting signed `delivered` and `read` webhooks (one status "
        "per POST, as Meta mostly sends them; a message's `read` often before its `delivered`) "
        "to granian; a Celery worker (at `nice -n 10`) applies them to the ledger meanwhile. "
        "Saturated: every connection posts again as soon as it is answered. Paced: wrk sends on "
        "a fixed schedule at Meta's rate for 1,000 sends per second. No body is posted twice. "
        "'All applied' is the time until no stored delivery waits.\n"
        "- **Message audit export**: each scaling campaign's messages (with their status "
        "events) exported as the admin streams the CSV, in a fresh process whose peak RSS is "
        "reported.\n"
        "- **Contact import**: a generated CRM export with mixed phone formats, tags, attributes, "
        "consent columns, duplicates and invalid rows, through the import service.\n"
        "- **Scaling**: CPU time and peak RSS of the Celery worker process over the whole run, "
        "divided by the messages sent.\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (harness smoke test)")
    parser.add_argument(
        "--no-report", action="store_true", help="print only; leave docs/benchmarks.md alone"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    started = time.monotonic()
    rows, _details = run(sizes)
    output = table(rows)
    print()
    print(output)
    print(f"\nbench: finished in {time.monotonic() - started:.0f} s")
    if not args.no_report and not args.quick:
        command = "make bench"
        write_report(rows, _details, command)
        print(f"bench: wrote {REPORT.relative_to(ROOT)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
