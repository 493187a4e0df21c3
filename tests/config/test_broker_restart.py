"""A worker outlives a restart of its Redis broker.

Redis restarted without persistence drops the broker's queues and the worker's connection at
once, while the worker holds acknowledged-late tasks and waits on BRPOP for more. The worker must
reconnect and go on consuming — a worker that dies there leaves every campaign stalled until
someone restarts it (celery 5.7.0 does die: see pyproject.toml).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from tests.config.test_configuration import ROOT, clean_environment
from tests.support.servers import RedisServer, ServerUnavailable
from tests.support.waiting import wait_until

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(redis_server: RedisServer):
    # Its own server: restarting the suite's shared one would empty it under other tests.
    try:
        server = RedisServer.start()
    except ServerUnavailable as error:
        pytest.fail(str(error))
    yield server
    server.stop()


def start_worker(broker_url: str, pool: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool", pool, "--concurrency", "4", "--queues", "celery",
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


def publish(broker_url: str, task: str, *args: object) -> None:
    client = Celery(broker=broker_url)
    try:
        client.send_task(task, args=args, queue="celery", retry=True)
    finally:
        client.close()


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_worker_with_tasks_in_flight_reconnects_after_redis_restarts(
    own_redis: RedisServer, tmp_path: Path, pool: str
):
    broker_url = f"{own_redis.url}/1"
    worker = start_worker(broker_url, pool)
    try:
        publish(broker_url, "probe.touch", str(tmp_path / "ready"))
        wait_until((tmp_path / "ready").exists, timeout=60)
        # Two of four slots busy: two unacknowledged tasks, and the consumer blocked on BRPOP.
        for number in range(2):
            publish(broker_url, "probe.hold", str(tmp_path / f"held-{number}"), 4)
        wait_until(lambda: all((tmp_path / f"held-{n}").exists() for n in range(2)), timeout=30)

        own_redis.restart()
        publish(broker_url, "probe.touch", str(tmp_path / "after-restart"))

        wait_until(
            lambda: (tmp_path / "after-restart").exists() or worker.poll() is not None,
            timeout=60,
        )
        assert worker.poll() is None, f"the worker died:\n{worker.stderr.read()[-3000:]}"
        assert (tmp_path / "after-restart").exists()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
