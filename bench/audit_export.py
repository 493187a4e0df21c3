"""The compliance message audit export: rows/s and the exporting process's peak memory.

`bench_audit_export({rows: campaign_id})` exports each campaign's messages in a fresh process
(`python -m bench.audit_export CAMPAIGN_ID`, on the environment's database), as the admin's
streaming response does, and reports that process's peak RSS: flat from the smallest export to
the largest means the export holds a chunk, never the ledger.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def export_campaign(campaign_id: int) -> dict:
    """Stream one campaign's audit CSV to nowhere, counting rows and time."""
    from campaigns.audit import message_audit_csv_lines, message_audit_queryset

    started = time.perf_counter()
    lines = 0
    for line in message_audit_csv_lines(message_audit_queryset(campaign_id=campaign_id)):
        lines += line.count("\n")
    seconds = time.perf_counter() - started
    rows = lines - 1  # the header
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else 0,
        "peak_rss_mb": round(peak_rss_kib() / 1024, 1),
    }


def peak_rss_kib() -> int:
    """This process's peak resident memory. Not `getrusage`'s `ru_maxrss`: on Linux it survives
    `exec` and would report the (larger) benchmark process that started this one."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def bench_audit_export(campaigns: dict[int, int]) -> dict[int, dict]:
    """Each campaign (by its size) exported in a process of its own."""
    results = {}
    for size, campaign_id in sorted(campaigns.items()):
        finished = subprocess.run(
            [sys.executable, "-m", "bench.audit_export", str(campaign_id)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
            timeout=900,
        )
        results[size] = json.loads(finished.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    import django

    django.setup()
    print(json.dumps(export_campaign(int(sys.argv[1]))))


if __name__ == "__main__":
    main()
