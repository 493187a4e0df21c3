"""The Prometheus metrics served on `/metrics`, built with prometheus-client.

Everything is read at scrape time from where the system already keeps it, not from counters in
the web process: the message ledger and its per-campaign progress counters (PostgreSQL), the
webhook store, Redis (the data-source cache counters every worker adds to) and the Celery
broker. So every worker process and host is covered without prometheus-client's multiprocess
mode, which needs a directory shared by all processes on one host and cleanup after each dead
worker — Celery workers may run on other machines than the web process that serves `/metrics`.

Send latency is therefore a *gauge histogram* (the distribution over the last five minutes, read
from the ledger), not a cumulative histogram: `histogram_quantile(0.9,
tidings_send_latency_seconds_bucket)` works on it directly, without `rate()`.

Each source is read in its own section: when Redis or the broker is down, or the database
fails, that section's metrics are left out and `tidings_metrics_source_up{source=…}` is 0; the
scrape itself still answers 200. A scrape is computed at most once per
`TIDINGS_METRICS_CACHE_SECONDS` per process, so several Prometheus servers cost one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from campaigns.models import DataSource
from campaigns.personalisation.sources import CACHE_COUNTERS
from config.counters import shared_counters_enabled, shared_counters_read

from . import selectors

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
CACHE_RATIO_MINUTES = 15
BROKER_TIMEOUT_SECONDS = 2.0
REDIS_BROKER_SCHEMES = ("redis://", "rediss://", "sentinel://")


def _gauge(name: str, documentation: str, values: dict[str, int | float], label: str) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _histogram_buckets(values: Iterable[float]) -> tuple[list[tuple[str, float]], float]:
    values = sorted(values)
    buckets, index = [], 0
    for bound in LATENCY_BUCKETS:
        while index < len(values) and values[index] <= bound:
            index += 1
        buckets.append((str(bound), index))
    buckets.append(("+Inf", len(values)))
    return buckets, sum(values)


# --- Sections -----------------------------------------------------------------------------------


def database_metrics(now: dt.datetime) -> list[Metric]:
    campaign = selectors.campaign_message_counts()
    direct_status, direct_failed = selectors.direct_message_counts(now=now)
    latency_buckets, latency_sum = _histogram_buckets(selectors.send_latencies(now=now))
    backlog = selectors.webhook_backlog()
    latency = GaugeHistogramMetricFamily(
        "tidings_send_latency_seconds",
        f"Seconds from a worker claiming a message to Meta accepting it, for messages sent in "
        f"the last {selectors.LATENCY_WINDOW_SECONDS} s (newest "
        f"{selectors.LATENCY_SAMPLE_PER_SENDER} per sender number).",
        buckets=latency_buckets,
        gsum_value=latency_sum,
    )
    due = GaugeMetricFamily(
        "tidings_queue_due_messages",
        f"Queued messages due now (running campaigns and API sends), counted up to "
        f"{selectors.COUNT_CAP}.",
        value=selectors.due_message_count(now=now),
    )
    lag = GaugeMetricFamily(
        "tidings_webhook_oldest_pending_age_seconds",
        "Age of the oldest webhook delivery from Meta still pending or processing (0: none).",
        value=backlog.lag_seconds(now),
    )
    return [
        _gauge(
            "tidings_campaign_messages",
            "Campaign messages per status, every campaign (from the progress counters).",
            campaign.by_status,
            "status",
        ),
        _gauge(
            "tidings_campaign_messages_reached",
            "Campaign messages that reached each funnel step (sent, delivered, read, clicked, "
            "replied).",
            campaign.reached,
            "step",
        ),
        _gauge(
            "tidings_campaign_messages_failed",
            "Failed campaign messages per Meta error code ('none': failed without one).",
            campaign.failed_by_code,
            "error_code",
        ),
        _gauge(
            "tidings_direct_messages_24h",
            "Messages without a campaign (API sends, test sends) created in the last 24 h, per "
            "status.",
            direct_status,
            "status",
        ),
        _gauge(
            "tidings_direct_messages_failed_24h",
            "Messages without a campaign failed in the last 24 h, per Meta error code.",
            direct_failed,
            "error_code",
        ),
        latency,
        due,
        lag,
        _gauge(
            "tidings_webhook_deliveries",
            f"Webhook deliveries from Meta per status, processed ones excluded (counted up to "
            f"{selectors.COUNT_CAP}).",
            backlog.deliveries,
            "status",
        ),
        _gauge(
            "tidings_webhook_unmatched_statuses",
            "Statuses for messages not found yet: retrying, or given up (unmatched).",
            backlog.unmatched,
            "state",
        ),
        _gauge("tidings_campaigns", "Campaigns per state.", selectors.campaign_counts(), "status"),
        _gauge(
            "tidings_templates",
            "Message templates (one per language) per Meta status.",
            selectors.template_counts(),
            "status",
        ),
    ]


def redis_metrics(now: dt.datetime) -> list[Metric]:
    """Data-source cache hits and misses, counted by every worker in Redis once per chunk."""
    totals = shared_counters_read(CACHE_COUNTERS) or {}
    recent = shared_counters_read(CACHE_COUNTERS, recent_minutes=CACHE_RATIO_MINUTES) or {}
    source_ids = {int(key.partition(":")[0]) for key in totals if key.partition(":")[0].isdigit()}
    names = dict(DataSource.objects.filter(pk__in=source_ids).values_list("id", "name"))
    hits = CounterMetricFamily(
        "tidings_datasource_cache_hits",
        "Data-source lookups answered from the cache, per source.",
        labels=["source"],
    )
    misses = CounterMetricFamily(
        "tidings_datasource_cache_misses",
        "Data-source lookups not in the cache (fetched from the source), per source.",
        labels=["source"],
    )
    ratio = GaugeMetricFamily(
        "tidings_datasource_cache_hit_ratio",
        f"Share of data-source lookups answered from the cache over the last "
        f"{CACHE_RATIO_MINUTES} minutes, per source.",
        labels=["source"],
    )
    for source_id in sorted(source_ids):
        label = [names.get(source_id, f"#{source_id}")]
        hits.add_metric(label, totals.get(f"{source_id}:hits", 0))
        misses.add_metric(label, totals.get(f"{source_id}:misses", 0))
        recent_hits = recent.get(f"{source_id}:hits", 0)
        recent_lookups = recent_hits + recent.get(f"{source_id}:misses", 0)
        if recent_lookups:
            ratio.add_metric(label, recent_hits / recent_lookups)
    return [hits, misses, ratio]


def broker_queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue of the Redis broker (a missing queue is empty)."""
    from kombu import Connection
    from kombu.exceptions import ChannelError

    lengths: dict[str, int] = {}
    options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "max_retries": 0,
    }
    with Connection(settings.CELERY_BROKER_URL, transport_options=options) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        channel = connection.default_channel
        for queue in settings.TIDINGS_METRICS_BROKER_QUEUES:
            try:
                lengths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                lengths[queue] = 0
    return lengths


def broker_metrics(now: dt.datetime) -> list[Metric]:
    return [
        _gauge(
            "tidings_broker_queue_messages",
            "Tasks waiting in each Celery queue of the Redis broker.",
            broker_queue_lengths(),
            "queue",
        )
    ]


def _sections() -> dict[str, Callable[[dt.datetime], list[Metric]]]:
    sections: dict[str, Callable[[dt.datetime], list[Metric]]] = {"database": database_metrics}
    if shared_counters_enabled():
        sections["redis"] = redis_metrics
    if settings.CELERY_BROKER_URL.startswith(REDIS_BROKER_SCHEMES):
        sections["broker"] = broker_metrics
    return sections


def collect_families(now: dt.datetime | None = None) -> list[Metric]:
    """Every metric family, section by section; a failing section is left out and flagged."""
    now = now or timezone.now()
    families: list[Metric] = []
    up = GaugeMetricFamily(
        "tidings_metrics_source_up",
        "1 if this scrape could read the source (database, redis, broker), else 0: its metrics "
        "are then missing.",
        labels=["source"],
    )
    for name, section in _sections().items():
        try:
            families.extend(section(now))
        except Exception as error:  # a source that is down must not fail the whole scrape
            logger.warning("metrics: %s unavailable: %s", name, error)
            up.add_metric([name], 0)
        else:
            up.add_metric([name], 1)
    families.append(up)
    return families


class TidingsCollector(Collector):
    """Collects on each scrape, reusing the previous result for a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: list[Metric] = []
        self._computed_at = float("-inf")

    def reset(self) -> None:
        with self._lock:
            self._computed_at = float("-inf")

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._computed_at >= settings.TIDINGS_METRICS_CACHE_SECONDS:
                self._families = collect_families()
                self._computed_at = time.monotonic()
            families = self._families
        yield from families


COLLECTOR = TidingsCollector()
# Auto-describe off: registering must not run the collection (and its queries) at import.
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(COLLECTOR)
