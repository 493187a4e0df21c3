"""Real PostgreSQL and Redis servers on loopback for the test suite.

Both are started from the machine's installed server binaries into throw-away directories and
torn down at the end of the session. PostgreSQL refuses to run as root, so when the suite runs as
root (as in CI) the server is started as the `postgres` system user instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import port_for

POSTGRES_PACKAGE_HINT = "install PostgreSQL server binaries: apt-get install -y postgresql"
REDIS_PACKAGE_HINT = "install the Redis server: apt-get install -y redis-server"


class ServerUnavailable(RuntimeError):
    """The server binary needed for these tests is not installed."""


def postgres_bindir() -> Path:
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        candidates.append(result.stdout.strip())
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for candidate in candidates:
        if candidate and all(
            (Path(candidate) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")
        ):
            return Path(candidate)
    raise ServerUnavailable(f"PostgreSQL server binaries not found; {POSTGRES_PACKAGE_HINT}")


@dataclass
class PostgresServer:
    """A disposable PostgreSQL cluster listening on 127.0.0.1 with trust authentication.

    The test suite's cluster trades durability for speed (no fsync, asynchronous commit): it never
    outlives a crash. A `durable` one keeps PostgreSQL's defaults, so that a crash (`restart`)
    loses nothing that was committed, as in production; the benchmarks and fault scenarios use
    it.
    """

    bindir: Path
    port: int
    datadir: Path
    user: str = "postgres"
    host: str = "127.0.0.1"
    durable: bool = False

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        bindir = postgres_bindir()
        datadir = Path(tempfile.mkdtemp(prefix="tidings-pg-", dir="/tmp"))
        server = cls(bindir=bindir, port=port_for.select_random(), datadir=datadir, durable=durable)
        if os.geteuid() == 0:
            shutil.chown(datadir, user="postgres", group="postgres")
        server._run(
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-A",
            "trust",
            "-U",
            server.user,
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        server._start()
        return server

    def _start(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", options,
            "-l", str(self.datadir / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def restart(self) -> None:
        """Stop the server as a crash would (immediate mode) and start it again, data kept."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop")
        self._start()

    def stop(self) -> None:
        try:
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def _run(self, *command: str) -> None:
        if os.geteuid() == 0:
            # PostgreSQL will not run as root; run its tools as the system user Debian creates.
            command = ("runuser", "-u", "postgres", "--", *command)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.datadir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )


@dataclass
class RedisServer:
    """A disposable Redis on 127.0.0.1 with persistence switched off."""

    executor: object
    port: int
    datadir: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    @classmethod
    def start(cls) -> RedisServer:
        executable = shutil.which("redis-server")
        if not executable:
            raise ServerUnavailable(f"redis-server not found; {REDIS_PACKAGE_HINT}")
        from pytest_redis.executor import RedisExecutor

        port = port_for.select_random()
        datadir = Path(tempfile.mkdtemp(prefix="tidings-redis-", dir="/tmp"))
        executor = RedisExecutor(
            executable=executable,
            databases=16,
            redis_timeout=30,
            loglevel="warning",
            host="127.0.0.1",
            port=port,
            datadir=datadir,
        )
        executor.start()
        return cls(executor=executor, port=port, datadir=datadir)

    def restart(self) -> None:
        """Stop and start again on the same port; without persistence, everything is gone."""
        self.executor.stop()
        self.executor.start()

    def stop(self) -> None:
        try:
            self.executor.stop()
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)
