"""Reading data sources for a chunk of contacts: the cache first, then the source's API.

Cost model (see shared performance notes): one `get_many` (one Redis MGET) per chunk for every
source and contact at once, breaker states included; only misses go to the network, concurrently
(at most `max_concurrency` requests in flight per source in this process) over a pooled
`requests.Session`, and what they bring back is stored with one `set_many` (a pipeline) per TTL.

Cache keys are ``pds:<source id>:v<cache_version>:<key value>``: bumping `cache_version` makes
every old entry unreachable at once (they then expire with their TTL), and deleting one key
forgets one contact.

What is cached:

* a JSON object answered with 200, for the source's `ttl_seconds`;
* a 404 as "not found", for ``TIDINGS_DATASOURCE_NOT_FOUND_TTL_SECONDS`` (at most the TTL): the
  CRM answered, it just has no such customer, and asking again for every message of every
  campaign would cost a call each time; the short TTL lets a customer created since show up soon;
* never a failure (timeout, connection error, other 4xx/5xx, invalid JSON, JSON that is not an
  object): the next chunk tries again, and the circuit breaker keeps a dead source from being
  hammered.

Every failure leaves "no data" for that contact, never an exception: the caller falls back.

A known race: a fetch already in flight when its key is invalidated can store the old answer
after the deletion, where it lives until its TTL. Invalidating "all" is immune (the late write
lands under the old version).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache
from requests.adapters import HTTPAdapter

from campaigns.models import DataSource
from config.counters import shared_counters_add
from contacts.models import Contact

from . import breaker

logger = logging.getLogger(__name__)

NOT_FOUND_MARKER = "__tidings_not_found__"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.@+:=-]{1,100}$")
USER_AGENT = "Tidings personalisation"

# Problems, as they appear in skip reasons and in the data source test.
NOT_FOUND = "not found"
CIRCUIT_OPEN = "circuit open"
INACTIVE = "inactive"
UNKNOWN_SOURCE = "unknown data source"

# Shared counters (config.counters) of cache hits and misses per source: `<source id>:hits`,
# `<source id>:misses`, for the hit ratio on /metrics.
CACHE_COUNTERS = "datasource-cache"


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What a source gave for one contact: `data`, or None and the `problem` why not."""

    data: dict[str, Any] | None
    problem: str = ""


@dataclass
class FetchStats:
    """Counters over one or more chunks, for logs and benchmarks.

    `lookups` counts (source, contact) pairs; `hits` + `misses` = the pairs that had a key; `calls`
    are HTTP requests actually made; `short_circuited` are misses not fetched because the breaker
    was open (or the source had no usable secret).
    """

    lookups: int = 0
    hits: int = 0
    misses: int = 0
    calls: int = 0
    failures: int = 0
    not_found: int = 0
    short_circuited: int = 0

    def add(self, other: FetchStats) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One HTTP call: `data` on success; `status_code` is None when no answer came."""

    data: dict[str, Any] | None
    problem: str
    status_code: int | None
    duration_ms: float
    url: str

    @property
    def failed(self) -> bool:
        return self.data is None and self.problem != NOT_FOUND


# --- Keys -------------------------------------------------------------------------------------


def key_value_of(source: DataSource, contact: Contact) -> str | None:
    """The value of the source's key field for `contact`, or None when the contact has none."""
    if source.key_field == DataSource.KeyField.ID:
        return str(contact.pk)
    value = getattr(contact, source.key_field, None)
    return str(value) if value not in (None, "") else None


def cache_key(source: DataSource, key_value: str) -> str:
    # Key values come from customers' systems; anything unusual or long is hashed so every cache
    # backend accepts the key.
    if not _SAFE_KEY.match(key_value):
        key_value = "h:" + hashlib.sha256(key_value.encode("utf-8")).hexdigest()[:40]
    return f"pds:{source.pk}:v{source.cache_version}:{key_value}"


def source_url(source: DataSource, key_value: str) -> str:
    return source.url_template.replace("{" + source.key_field + "}", quote(key_value, safe=""))


# --- HTTP -------------------------------------------------------------------------------------

_sessions: dict[tuple[int, int], requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(source: DataSource) -> requests.Session:
    """This process's pooled session for `source`, its pool as large as its concurrency.

    Kept across chunks so connections stay open (keep-alive) between them. No HTTP-layer retries:
    a failure is reported at once and the breaker decides what happens next.
    """
    key = (source.pk, source.max_concurrency)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(
                pool_connections=1, pool_maxsize=source.max_concurrency, max_retries=0
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _sessions[key] = session
        return session


def auth_headers(source: DataSource) -> dict[str, str] | None:
    """The request headers, with the auth header's value read from the environment now.

    None when the source names an environment variable that is not set: calling without the
    secret could only fail, so nothing is called.
    """
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if source.auth_env_var:
        secret = os.environ.get(source.auth_env_var, "")
        if not secret:
            return None
        headers[source.auth_header or "Authorization"] = secret
    return headers


def call_source(
    source: DataSource,
    key_value: str,
    *,
    headers: dict[str, str],
    session: requests.Session | None = None,
) -> CallOutcome:
    """One GET for one key; every failure is an outcome, never an exception."""
    url = source_url(source, key_value)
    started = time.perf_counter()

    def outcome(data: dict[str, Any] | None, problem: str, status: int | None) -> CallOutcome:
        duration_ms = (time.perf_counter() - started) * 1000
        return CallOutcome(data, problem, status, round(duration_ms, 1), url)

    try:
        response = (session or session_for(source)).get(
            url,
            headers=headers,
            timeout=source.timeout_seconds,
            # A redirect could carry the auth header to another host; a source must answer itself.
            allow_redirects=False,
        )
    except requests.Timeout:
        return outcome(None, f"timed out after {source.timeout_seconds:g}s", None)
    except requests.RequestException as error:
        return outcome(None, f"connection failed ({type(error).__name__})", None)
    try:
        if response.status_code == 404:
            return outcome(None, NOT_FOUND, 404)
        if response.status_code != 200:
            return outcome(None, f"HTTP {response.status_code}", response.status_code)
        try:
            data = response.json()
        except ValueError:
            return outcome(None, "invalid JSON", 200)
        if not isinstance(data, dict):
            return outcome(None, "JSON is not an object", 200)
        return outcome(data, "", 200)
    finally:
        response.close()


# --- A chunk ----------------------------------------------------------------------------------


def fetch_for_contacts(
    *,
    sources: Iterable[DataSource],
    contacts: Sequence[Contact],
    stats: FetchStats | None = None,
) -> dict[str, dict[int, SourceResult]]:
    """Each source's data for each contact, by source name then contact id.

    One `get_many` covers every source and contact (and the breakers); misses are fetched
    concurrently, every source at once, each within its own `max_concurrency`.
    """
    stats = stats if stats is not None else FetchStats()
    results: dict[str, dict[int, SourceResult]] = {}
    plans: list[_SourcePlan] = []
    for source in sources:
        per_contact: dict[int, SourceResult] = {}
        results[source.name] = per_contact
        plan = _SourcePlan(source=source)
        for contact in contacts:
            stats.lookups += 1
            if not source.is_active:
                per_contact[contact.pk] = SourceResult(None, INACTIVE)
                continue
            key_value = key_value_of(source, contact)
            if key_value is None:
                per_contact[contact.pk] = SourceResult(None, f"contact has no {source.key_field}")
                continue
            if key_value not in plan.contacts_by_key:
                plan.contacts_by_key[key_value] = []
                plan.cache_keys[key_value] = cache_key(source, key_value)
            plan.contacts_by_key[key_value].append(contact.pk)
        if plan.contacts_by_key:
            plans.append(plan)
    if not plans:
        return results

    wanted = [key for plan in plans for key in plan.cache_keys.values()]
    wanted += [breaker.open_until_key(plan.source) for plan in plans]
    cached = cache.get_many(wanted)

    for plan in plans:
        plan.read_cache(cached, stats)
    _count_cache_use(plans)
    _fetch_misses([plan for plan in plans if plan.misses], cached, stats)
    for plan in plans:
        plan.store()
        per_contact = results[plan.source.name]
        for key_value, contact_ids in plan.contacts_by_key.items():
            for contact_id in contact_ids:
                per_contact[contact_id] = plan.found[key_value]
    return results


def _count_cache_use(plans: list[_SourcePlan]) -> None:
    """Every worker's hits and misses end up in the same counters: one round trip per chunk."""
    increments: dict[str, int] = {}
    for plan in plans:
        misses = len(plan.misses)
        increments[f"{plan.source.pk}:hits"] = len(plan.contacts_by_key) - misses
        increments[f"{plan.source.pk}:misses"] = misses
    shared_counters_add(CACHE_COUNTERS, increments)


@dataclass
class _SourcePlan:
    source: DataSource
    contacts_by_key: dict[str, list[int]] = field(default_factory=dict)
    cache_keys: dict[str, str] = field(default_factory=dict)
    found: dict[str, SourceResult] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    to_store: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)

    def read_cache(self, cached: dict[str, Any], stats: FetchStats) -> None:
        for key_value, key in self.cache_keys.items():
            value = cached.get(key)
            if isinstance(value, dict):
                self.found[key_value] = SourceResult(value)
            elif value == NOT_FOUND_MARKER:
                self.found[key_value] = SourceResult(None, NOT_FOUND)
            else:
                self.misses.append(key_value)
        stats.misses += len(self.misses)
        stats.hits += len(self.contacts_by_key) - len(self.misses)

    def record(self, key_value: str, outcome: CallOutcome) -> None:
        if outcome.data is not None:
            self.found[key_value] = SourceResult(outcome.data)
            self.to_store[self.cache_keys[key_value]] = outcome.data
        else:
            self.found[key_value] = SourceResult(None, outcome.problem)
            if outcome.problem == NOT_FOUND:
                self.not_found.append(self.cache_keys[key_value])

    def skip(self, key_values: Iterable[str], problem: str, stats: FetchStats) -> None:
        for key_value in key_values:
            if key_value not in self.found:
                self.found[key_value] = SourceResult(None, problem)
                stats.short_circuited += 1

    def store(self) -> None:
        if self.to_store:
            cache.set_many(self.to_store, timeout=self.source.ttl_seconds)
        if self.not_found:
            timeout = min(
                self.source.ttl_seconds, settings.TIDINGS_DATASOURCE_NOT_FOUND_TTL_SECONDS
            )
            cache.set_many(dict.fromkeys(self.not_found, NOT_FOUND_MARKER), timeout=timeout)


class _SourceRun:
    """The misses of one source being fetched through a sliding window.

    At most `max_concurrency` calls are out at once, and the next one is only started once a
    result has been recorded, so when the breaker opens nothing more is started: with a
    concurrency of c, at most c - 1 calls already in flight can follow the failure that opened it.
    Half-open (`TRIAL`), the window is a single call until that call has succeeded.
    """

    def __init__(self, plan: _SourcePlan, gate: breaker.Gate, headers: dict[str, str]) -> None:
        self.plan = plan
        self.gate = gate
        self.headers = headers
        self.session = session_for(plan.source)
        self.executor = ThreadPoolExecutor(
            max_workers=min(plan.source.max_concurrency, len(plan.misses)),
            thread_name_prefix=f"datasource-{plan.source.name}",
        )
        self.pending: list[str] = list(plan.misses)
        self.in_flight: dict[Future, str] = {}
        self.stopped = False
        self.failures_since_reset = True  # unknown at the start: reset on the first success

    def refill(self) -> list[Future]:
        """Start calls until the window is full; returns the calls started."""
        if self.stopped:
            return []
        window = 1 if self.gate is breaker.Gate.TRIAL else self.plan.source.max_concurrency
        room = max(window - len(self.in_flight), 0)
        starting, self.pending = self.pending[:room], self.pending[room:]
        futures = []
        for key_value in starting:
            future = self.executor.submit(
                call_source, self.plan.source, key_value, headers=self.headers, session=self.session
            )
            self.in_flight[future] = key_value
            futures.append(future)
        return futures

    def stop(self, stats: FetchStats) -> None:
        self.stopped = True
        self.plan.skip(self.pending, CIRCUIT_OPEN, stats)
        self.pending = []

    def handle(self, future: Future, stats: FetchStats) -> list[Future]:
        """Record one finished call; returns the calls started in its place."""
        key_value = self.in_flight.pop(future)
        outcome: CallOutcome = future.result()
        stats.calls += 1
        self.plan.record(key_value, outcome)
        source = self.plan.source
        if outcome.failed:
            stats.failures += 1
            logger.warning("data source %s: %s", source.name, outcome.problem)
            if self.gate is breaker.Gate.TRIAL:
                breaker.trip(source)
                logger.error("data source %s: trial call failed, breaker open again", source.name)
                self.stop(stats)
            else:
                self.failures_since_reset = True
                if breaker.record_failure(source) and not self.stopped:
                    logger.error("data source %s: circuit breaker open", source.name)
                    self.stop(stats)
            return self.refill()
        if outcome.problem == NOT_FOUND:
            stats.not_found += 1
        if self.gate is breaker.Gate.TRIAL:
            breaker.close(source)
            logger.info("data source %s: trial call succeeded, breaker closed", source.name)
            self.gate = breaker.Gate.CLOSED
            self.failures_since_reset = False
        elif self.failures_since_reset:
            breaker.record_success(source)
            self.failures_since_reset = False
        return self.refill()


def _fetch_misses(plans: list[_SourcePlan], cached: dict[str, Any], stats: FetchStats) -> None:
    runs: list[_SourceRun] = []
    owners: dict[Future, _SourceRun] = {}
    for plan in plans:
        source = plan.source
        gate = breaker.gate(source, open_until=cached.get(breaker.open_until_key(source)))
        if gate is breaker.Gate.OPEN:
            plan.skip(plan.misses, CIRCUIT_OPEN, stats)
            continue
        headers = auth_headers(source)
        if headers is None:
            logger.error(
                "data source %s: environment variable %s is not set; not calling it",
                source.name,
                source.auth_env_var,
            )
            plan.skip(plan.misses, f"environment variable {source.auth_env_var} is not set", stats)
            continue
        run = _SourceRun(plan, gate, headers)
        runs.append(run)
        owners.update(dict.fromkeys(run.refill(), run))
    try:
        while owners:
            done, _ = wait(owners, return_when=FIRST_COMPLETED)
            for future in done:
                run = owners.pop(future)
                owners.update(dict.fromkeys(run.handle(future, stats), run))
    finally:
        for run in runs:
            run.executor.shutdown(wait=True, cancel_futures=True)
