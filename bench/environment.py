"""What every benchmark and fault run needs: real PostgreSQL and Redis, Django configured for
production-like work (DEBUG off, Redis cache and broker, the Cloud API provider pointed at a
loopback stand-in), and helpers to start Celery workers and the stand-ins as separate processes.

Everything listens on 127.0.0.1 and every process is stopped when the run ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import port_for

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = str(Path(sys.executable).with_name("celery"))
ACCESS_TOKEN = "bench-access-token"
APP_SECRET = "bench-app-secret"


def settle_database() -> None:
    """VACUUM ANALYZE everything, so that a benchmark does not pay for autovacuum cleaning up
    after the one before it (or after its own setup); the vacuuming of what it writes itself
    still runs while it is measured."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll `condition` every 0.25 s until true; the seconds it took. TimeoutError after
    `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not reached after {timeout:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - started


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback URL we built
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback URL
        return json.loads(response.read())


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback URL we built
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


@dataclass
class StandInProcess:
    process: subprocess.Popen
    base_url: str

    def ledger(self) -> dict:
        return get_json(f"{self.base_url}/_ledger")

    def ledger_ids(self) -> dict[str, int]:
        return get_json(f"{self.base_url}/_ledger/ids")

    def ledger_times(self) -> dict[str, list[float]]:
        return get_json(f"{self.base_url}/_ledger/times")

    def configure(self, **changes: object) -> dict:
        return post_json(f"{self.base_url}/_config", changes)

    def reset(self) -> None:
        post_json(f"{self.base_url}/_reset", {})


@dataclass
class BenchEnvironment:
    """Servers, settings and child processes of one run; use as a context manager."""

    dispatch_concurrency: int = 256
    chunk_size: int = 1000
    parallel_tasks: int = 4
    worker_processes: int = 2
    processes: list[subprocess.Popen] = field(default_factory=list)
    _servers: list = field(default_factory=list)
    meta: StandInProcess | None = None

    def __enter__(self) -> BenchEnvironment:
        sys.path.insert(0, str(ROOT))
        os.chdir(ROOT)
        database_url = os.environ.get("BENCH_DATABASE_URL")
        redis_url = os.environ.get("BENCH_REDIS_URL")
        if not database_url or not redis_url:
            from tests.support.servers import PostgresServer, RedisServer

            # Durable, as production: a restart in the fault scenarios is a crash, and an
            # acknowledged webhook must survive it.
            postgres = PostgresServer.start(durable=True)
            redis = RedisServer.start()
            self._servers = [postgres, redis]
            database_url = f"postgres://postgres@127.0.0.1:{postgres.port}/postgres"
            redis_url = redis.url
        meta_port = port_for.select_random()
        self.meta_base_url = f"http://127.0.0.1:{meta_port}"
        self.web_url = f"http://127.0.0.1:{port_for.select_random()}"
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.production",
                "DEBUG": "false",
                "SECRET_KEY": "bench-not-secret",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": database_url,
                "REDIS_URL": f"{redis_url}/0",
                "CELERY_BROKER_URL": f"{redis_url}/1",
                "WHATSAPP_PROVIDER": "cloud",
                "WHATSAPP_API_BASE_URL": self.meta_base_url,
                "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
                "WHATSAPP_APP_SECRET": APP_SECRET,
                "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
                "TIDINGS_SUBSCRIPTION_SIGNING_KEY": "bench-subscription-signing-key",
                "WHATSAPP_HTTP_CONCURRENCY": str(self.dispatch_concurrency),
                "TIDINGS_DISPATCH_CHUNK_SIZE": str(self.chunk_size),
                "TIDINGS_DISPATCH_PARALLEL_TASKS": str(self.parallel_tasks),
                "LOG_LEVEL": "WARNING",
                # Celery warns at length about running as root, which CI machines do.
                "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        return self

    def start_meta(
        self,
        *,
        latency: float = 0.2,
        cap: int = 0,
        webhook_url: str | None = None,
        separate: bool = False,
    ) -> StandInProcess:
        """Meta's stand-in at `meta_base_url` (the one Tidings sends to), or on a port of its own
        with `separate` (for the naive sender, which must not share its ledger)."""
        base_url = (
            f"http://127.0.0.1:{port_for.select_random()}" if separate else self.meta_base_url
        )
        port = int(base_url.rsplit(":", 1)[1])
        command = [
            PYTHON, "-m", "bench.meta_standin", "--port", str(port), "--latency", str(latency),
            "--cap", str(cap), "--access-token", ACCESS_TOKEN, "--app-secret", APP_SECRET,
        ]  # fmt: skip
        if webhook_url:
            command += ["--webhook-url", webhook_url]
        process = subprocess.Popen(command, cwd=ROOT)
        self.processes.append(process)
        wait_for_http(f"{base_url}/_ledger")
        stand_in = StandInProcess(process, base_url)
        if not separate:
            self.meta = stand_in
        return stand_in

    def start_worker(
        self,
        *,
        concurrency: int = 4,
        name: str = "bench",
        queues: str = "dispatch,webhooks,housekeeping,celery",
        niceness: int = 0,
    ) -> subprocess.Popen:
        """A Celery worker; with `niceness`, at that lower CPU priority (`nice -n`)."""
        process = subprocess.Popen(
            [
                *(["nice", "-n", str(niceness)] if niceness else []),
                CELERY, "--quiet", "-A", "config", "worker", "--pool", "threads",
                "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
                "--queues", queues,
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def start_beat(self) -> subprocess.Popen:
        schedule = Path(tempfile.mkdtemp(prefix="tidings-beat-")) / "schedule"
        process = subprocess.Popen(
            [
                CELERY,
                "--quiet",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(schedule),
            ],
            cwd=ROOT,
        )
        self.processes.append(process)
        return process

    def start_web(self, **options: int) -> subprocess.Popen:
        """The production web server (`config.web_server`, with its defaults unless `options`
        name `workers` or `threads`) on the port `web_url` names."""
        from config import web_server

        port = int(self.web_url.rsplit(":", 1)[1])
        command = web_server.command(port=port, **options)
        process = subprocess.Popen(command, cwd=ROOT)
        self.processes.append(process)
        wait_for_http(f"{self.web_url}/healthz")
        return process

    def restart_postgres(self) -> None:
        self._server("Postgres").restart()

    def restart_redis(self) -> None:
        self._server("Redis").restart()

    def _server(self, kind: str):
        for server in self._servers:
            if type(server).__name__.startswith(kind):
                return server
        raise RuntimeError(f"{kind} was given by URL, so this run cannot restart it")

    def stop(self, process: subprocess.Popen, *, kill: bool = False) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                self.stop(process)
        from django.db import connections

        connections.close_all()
        for server in reversed(self._servers):
            server.stop()


@contextlib.contextmanager
def timed() -> Iterator[dict]:
    result: dict = {}
    started = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - started
