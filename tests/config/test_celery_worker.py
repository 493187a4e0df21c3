"""A Celery worker on the Redis broker keeps consuming: while a long task holds a slot, and after
Redis restarts under it.

Both failed with released Celery/kombu versions (see the pins in pyproject.toml): kombu 5.6 left
a thread-pool worker's acknowledgements unflushed until some unrelated wake-up, so a STOP keyword
waited seconds behind a running campaign; celery 5.7.0 died on reconnecting when Redis restarted
while it held unacknowledged tasks, leaving every campaign stalled until someone restarted it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from tests.config.test_configuration import ROOT, clean_environment
from tests.support.servers import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.redis

POOLS = ["prefork", "threads"]


@pytest.fixture
def own_redis(redis_server: RedisServer):
    # Its own server: restarting the suite's shared one would empty it under other tests. Asking
    # for the shared one first gives the suite's answer to a missing redis-server (skip, or fail
    # in CI) before this one is started.
    server = RedisServer.start()
    yield server
    server.stop()


class Worker:
    """`celery -A config worker` on its own Redis, running the probe tasks."""

    def __init__(self, broker_url: str, pool: str, concurrency: int) -> None:
        self.broker_url = broker_url
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "--pool", pool, "--concurrency", str(concurrency), "--queues", "celery",
                "--include", "tests.support.broker_probe",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel", "WARNING",
            ],
            cwd=ROOT,
            env=clean_environment("config.settings.local", CELERY_BROKER_URL=broker_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def publish(self, task: str, *args: object) -> None:
        client = Celery(broker=self.broker_url)
        try:
            client.send_task(task, args=args, queue="celery", retry=True)
        finally:
            client.close()

    def ran(self, marker: Path) -> bool:
        """Waits until the task that touches `marker` ran, or the worker died."""
        wait_until(lambda: marker.exists() or self.process.poll() is not None, timeout=60)
        assert self.process.poll() is None, (
            f"the worker died:\n{self.process.stderr.read()[-3000:]}"
        )
        return marker.exists()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_worker(own_redis: RedisServer):
    workers: list[Worker] = []

    def start(pool: str, concurrency: int) -> Worker:
        worker = Worker(f"{own_redis.url}/1", pool, concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.mark.parametrize("pool", POOLS)
def test_tasks_queued_behind_a_long_one_start_while_it_still_runs(
    start_worker, tmp_path: Path, pool: str
):
    worker = start_worker(pool, concurrency=2)
    worker.publish("probe.touch", str(tmp_path / "ready"))
    assert worker.ran(tmp_path / "ready")
    long_task = tmp_path / "long"
    worker.publish("probe.hold", str(long_task), 8)
    assert worker.ran(Path(f"{long_task}.started"))

    # One slot stays free; each short task must take it without waiting for the long one.
    for number in range(4):
        marker = tmp_path / f"short-{number}"
        worker.publish("probe.touch", str(marker))
        wait_until(lambda m=marker: m.exists() or Path(f"{long_task}.finished").exists(), 30)
        assert marker.exists(), f"short task {number} waited for the long task to finish"


@pytest.mark.parametrize("pool", POOLS)
def test_a_worker_with_tasks_in_flight_reconnects_after_redis_restarts(
    start_worker, own_redis: RedisServer, tmp_path: Path, pool: str
):
    worker = start_worker(pool, concurrency=4)
    worker.publish("probe.touch", str(tmp_path / "ready"))
    assert worker.ran(tmp_path / "ready")
    # Two of four slots busy: two unacknowledged tasks, and the consumer blocked on BRPOP.
    for number in range(2):
        worker.publish("probe.hold", str(tmp_path / f"held-{number}"), 4)
    for number in range(2):
        assert worker.ran(tmp_path / f"held-{number}.started")

    own_redis.restart()
    worker.publish("probe.touch", str(tmp_path / "after-restart"))

    assert worker.ran(tmp_path / "after-restart")
