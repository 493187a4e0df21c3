"""What the browser tests drive: Debian's Chromium through Playwright, and a whole Tidings site.

The site runs as it does in production, in real processes: the production web server
(`config.web_server`: granian on the WSGI entry point, webhook fast path included), a Celery
worker and Celery beat, on a database of its own on the suite's PostgreSQL, with Redis as cache
and broker, and the sandbox provider posting its signed status webhooks back to that web server.
Nothing is downloaded: Playwright's driver ships in its wheel and the browser is the system's
Chromium (never `playwright install`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import port_for

from config import web_server
from tests.support.servers import PostgresServer, RedisServer, ServerUnavailable

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM_PACKAGE_HINT = "install Debian's Chromium: apt-get install -y chromium"
PLAYWRIGHT_PACKAGE_HINT = "install the dev dependencies: pip install -r requirements.lock"
# Headless, as root (CI), and quiet: no GPU, no QUIC, no first-run, updates, sync or any other
# traffic the browser would start by itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"


def chromium_executable() -> str:
    """The system Chromium (TIDINGS_CHROMIUM overrides the path)."""
    path = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        raise ServerUnavailable(f"{path} not found; {CHROMIUM_PACKAGE_HINT}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        raise ServerUnavailable(
            f"Playwright is not installed; {PLAYWRIGHT_PACKAGE_HINT}"
        ) from error
    return path


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@dataclass
class Site:
    """A running Tidings: its URL, its processes, and the facts its setup reported."""

    base_url: str
    env: dict[str, str]
    logs: Path
    facts: dict[str, Any] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, lines: int = 40) -> str:
        """The end of every process's log, for a failure message."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(parts)


class SiteStack:
    """Start a site on `postgres`/`redis`; `stop()` ends every process and drops its database."""

    def __init__(self, postgres: PostgresServer, redis: RedisServer, workdir: Path) -> None:
        self.postgres = postgres
        self.redis = redis
        self.workdir = workdir
        self.database = f"tidings_browser_{uuid.uuid4().hex[:10]}"
        self.site: Site | None = None

    def _env(self, port: int) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "WHATSAPP_", "TIDINGS_", "CELERY_", "PYTEST_"))
            and key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.local",
                "DEBUG": "false",
                "SECRET_KEY": "browser-tests-only-not-secret",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": (
                    f"postgres://{self.postgres.user}@127.0.0.1:{self.postgres.port}/"
                    f"{self.database}"
                ),
                "REDIS_URL": f"{self.redis.url}/10",
                "CELERY_BROKER_URL": f"{self.redis.url}/11",
                "WHATSAPP_PROVIDER": "sandbox",
                "WHATSAPP_SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{port}/webhooks/whatsapp/",
                "WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS": "0.3",
                "WHATSAPP_SANDBOX_FAILURE_RATE": "0.1",
                "WHATSAPP_SANDBOX_READ_RATE": "0.6",
                "WHATSAPP_SANDBOX_STATE_DIR": str(self.workdir / "sandbox"),
                "TIDINGS_PORT": str(port),
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
            }
        )
        return env

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.postgres.port,
            user=self.postgres.user,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def _drop_database(self) -> None:
        import psycopg

        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(
                host="127.0.0.1",
                port=self.postgres.port,
                user=self.postgres.user,
                dbname="postgres",
                autocommit=True,
            ) as connection,
        ):
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.workdir / "logs" / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.site is not None
        self.site.processes.append(process)
        return process

    def start(self) -> Site:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        port = port_for.select_random()
        env = self._env(port)
        self.site = Site(base_url=f"http://127.0.0.1:{port}", env=env, logs=self.workdir / "logs")
        self._create_database()
        bindir = Path(sys.executable).parent
        # Migrate, seed the demo data and create the staff users, in one process.
        prepared = subprocess.run(
            [sys.executable, "-m", "tests.browser.site_data"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if prepared.returncode != 0:
            raise RuntimeError(f"preparing the site failed:\n{prepared.stdout}\n{prepared.stderr}")
        self.site.facts = json.loads(prepared.stdout.strip().splitlines()[-1])
        self._spawn(
            "web",
            web_server.command(port=port, workers=2, threads=4),
            env,
        )
        self._spawn(
            "worker",
            [
                str(bindir / "celery"), "-A", "config", "worker", "--pool", "threads",
                "--concurrency", "6", "--queues", "dispatch,webhooks,housekeeping,celery",
                "--hostname", f"browser-{port}@%h", "--loglevel", "WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            env,
        )  # fmt: skip
        self._spawn(
            "beat",
            [
                str(bindir / "celery"), "-A", "config", "beat", "--loglevel", "WARNING",
                "--schedule", str(self.workdir / "beat-schedule"),
            ],
            env,
        )  # fmt: skip
        self._wait_until_ready()
        return self.site

    def _wait_until_ready(self, timeout: float = 60.0) -> None:
        assert self.site is not None
        deadline = time.monotonic() + timeout
        while True:
            for process in self.site.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a site process exited early:\n{self.site.log_tail()}")
            try:
                if _get(self.site.url("/readyz")) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the site did not get ready:\n{self.site.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        processes = self.site.processes if self.site else []
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._drop_database()
        shutil.rmtree(self.workdir / "sandbox", ignore_errors=True)
