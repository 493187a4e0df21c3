"""Delayed, signed webhook delivery for the sandbox: a delay queue served by one daemon thread.

Webhooks are POSTed like Meta does: compact JSON, `Content-Type: application/json` and
`X-Hub-Signature-256` computed by `signatures.sign` with the app secret. The target is either an
HTTP(S) URL or a callable sink `(body: bytes, headers: dict) -> None` (tests use the sink).

A failed delivery is logged and retried a few times with a growing delay; it never reaches the
code that sent the message. Retries can reorder events, which Meta's deliveries do too.

The thread starts on first use and is recreated after a fork (Celery's prefork workers inherit
the object but not the thread), dropping jobs queued in the parent.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from whatsapp import signatures

logger = logging.getLogger(__name__)

WebhookSink = Callable[[bytes, dict[str, str]], None]
WebhookTarget = str | WebhookSink


@dataclass(order=True)
class _Job:
    due: float
    sequence: int
    run: Callable[[], None] = field(compare=False)


class WebhookDeliverer:
    """Runs callables at a given time on a background thread, and delivers signed webhooks."""

    def __init__(
        self,
        *,
        target: WebhookTarget | None,
        app_secret: str,
        attempts: int = 3,
        retry_delay_seconds: float = 0.5,
        http_timeout_seconds: float = 5.0,
    ) -> None:
        if isinstance(target, str):
            scheme = urlsplit(target).scheme
            if scheme not in ("http", "https"):
                raise ValueError(f"webhook URL must be http(s), not {target!r}")
        self.target = target or None
        self.app_secret = app_secret
        self.attempts = max(1, attempts)
        self.retry_delay_seconds = retry_delay_seconds
        self.http_timeout_seconds = http_timeout_seconds
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._sequence = itertools.count()
        self._reset_state()

    def _reset_state(self) -> None:
        self._pid = os.getpid()
        self._condition = threading.Condition()
        self._queue: list[_Job] = []
        self._running_jobs = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- Scheduling ---------------------------------------------------------------------

    def call_later(self, delay_seconds: float, function: Callable[[], None]) -> None:
        """Run `function` on the delivery thread after `delay_seconds`."""
        if os.getpid() != self._pid:
            self._reset_state()
        with self._condition:
            if self._stopping:
                logger.debug("sandbox deliverer closed; job dropped")
                return
            job = _Job(time.monotonic() + max(0.0, delay_seconds), next(self._sequence), function)
            heapq.heappush(self._queue, job)
            self._ensure_thread()
            self._condition.notify_all()

    def deliver_later(self, delay_seconds: float, body: Mapping[str, Any]) -> None:
        """POST `body` (signed) to the target after `delay_seconds`, retrying on failure."""
        if self.target is None:
            logger.debug("no sandbox webhook target configured; webhook dropped")
            return
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.call_later(delay_seconds, lambda: self._attempt(raw, 1))

    def _attempt(self, raw: bytes, attempt: int) -> None:
        try:
            self.deliver_now(raw)
        except Exception as exc:
            if attempt >= self.attempts:
                logger.error(
                    "sandbox webhook dropped after %d attempts (%d bytes): %s",
                    attempt,
                    len(raw),
                    exc,
                )
                return
            logger.warning("sandbox webhook attempt %d failed, will retry: %s", attempt, exc)
            self.call_later(
                self.retry_delay_seconds * attempt, lambda: self._attempt(raw, attempt + 1)
            )

    def deliver_now(self, raw: bytes) -> None:
        """One signed delivery of `raw` to the target; raises on any failure or non-2xx."""
        headers = {
            "Content-Type": "application/json",
            signatures.SIGNATURE_HEADER: signatures.sign(raw, self.app_secret),
        }
        target = self.target
        if target is None:
            return
        if callable(target):
            target(raw, dict(headers))
            return
        request = urllib.request.Request(target, data=raw, headers=headers, method="POST")  # noqa: S310 - scheme checked in __init__
        with self._opener.open(request, timeout=self.http_timeout_seconds) as response:
            response.read()
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook receiver answered HTTP {response.status}")

    # --- The thread ---------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._serve, name="whatsapp-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def _serve(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._stopping:
                        return
                    if self._queue:
                        wait = self._queue[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self._condition.wait(timeout=wait)
                    else:
                        self._condition.wait()
                job = heapq.heappop(self._queue)
                self._running_jobs += 1
            try:
                job.run()
            except Exception:
                logger.exception("sandbox background job failed")
            finally:
                with self._condition:
                    self._running_jobs -= 1
                    self._condition.notify_all()

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is queued or running (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._queue or self._running_jobs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(timeout=remaining)
            return True

    def close(self, timeout: float = 1.0) -> None:
        """Stop the thread; jobs still queued are dropped (use wait_until_idle first to flush)."""
        with self._condition:
            self._stopping = True
            self._queue.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
