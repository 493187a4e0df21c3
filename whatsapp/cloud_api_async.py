"""High-throughput sends for the Cloud API: one asyncio loop per process, one aiohttp session.

Throughput is requests in flight divided by Meta's latency. Threads with `requests` top out near
550 sends/s on two cores because each in-flight request costs a thread; a single event loop
keeps hundreds in flight for a fraction of the CPU. The loop runs in a daemon thread so the
rest of Tidings (Django, Celery tasks) stays synchronous: callers get `concurrent.futures.Future`
objects.

Each send waits for its slot (a `time.monotonic()` instant handed out by the shared rate limiter)
before it takes one of the `concurrency` connections, so a paced batch never holds connections
idle. Like the requests client, nothing here ever retries a POST: retries belong to the ledger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from whatsapp import errors
from whatsapp.base import SendOutcome
from whatsapp.errors import TransportFailure
from whatsapp.responses import parse_send_response

logger = logging.getLogger(__name__)


class AsyncSender:
    """Owns the event loop thread and the aiohttp session of one process (rebuilt after fork)."""

    def __init__(
        self,
        *,
        concurrency: int,
        connect_timeout: float,
        read_timeout: float,
        token_source: Callable[[], str],
    ) -> None:
        self.concurrency = concurrency
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._token_source = token_source
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None

    # --- Loop lifecycle ------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self._pid == os.getpid() and self._loop.is_running():
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="whatsapp-async-send", daemon=True).start()
            ready.wait()
            self._loop, self._pid = loop, os.getpid()
            self._session = None
            self._semaphore = None
            return loop

    async def _ensure_session(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                headers={"User-Agent": "tidings-whatsapp"},
            )
            self._semaphore = asyncio.Semaphore(self.concurrency)
        assert self._semaphore is not None
        return self._session, self._semaphore

    def close(self) -> None:
        with self._lock:
            loop, session = self._loop, self._session
            self._loop = self._session = None
        if loop is None or not loop.is_running():
            return
        if session is not None:
            asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)

    # --- Sending -------------------------------------------------------------------------

    def submit(
        self,
        url: str,
        body: dict[str, Any],
        *,
        not_before: float,
        cancelled: threading.Event,
    ) -> concurrent.futures.Future[SendOutcome | None]:
        """POST `body` to `url` no earlier than `not_before`; None if cancelled before leaving."""
        loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(
            self._post_at(url, body, not_before, cancelled), loop
        )

    def submit_many(
        self,
        requests: list[tuple[str, dict[str, Any], float]],
        *,
        cancelled: threading.Event,
    ) -> list[concurrent.futures.Future[SendOutcome | None]]:
        """`submit` for a batch of (url, body, not_before), with one wake-up of the loop."""
        loop = self._ensure_loop()
        futures: list[concurrent.futures.Future[SendOutcome | None]] = [
            concurrent.futures.Future() for _ in requests
        ]

        def schedule() -> None:
            for (url, body, not_before), future in zip(requests, futures, strict=True):
                task = loop.create_task(self._post_at(url, body, not_before, cancelled))
                task.add_done_callback(lambda done, future=future: _settle(future, done))

        loop.call_soon_threadsafe(schedule)
        return futures

    async def _post_at(
        self, url: str, body: dict[str, Any], not_before: float, cancelled: threading.Event
    ) -> SendOutcome | None:
        delay = not_before - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if cancelled.is_set():
            return None
        session, semaphore = await self._ensure_session()
        async with semaphore:
            if cancelled.is_set():
                return None
            return await self._post(session, url, body)

    async def _post(
        self, session: aiohttp.ClientSession, url: str, body: dict[str, Any]
    ) -> SendOutcome:
        token = (self._token_source() or "").strip()
        if not token:
            return errors.build_error(
                message="no WhatsApp access token is configured",
                transport_failure=TransportFailure.CONFIGURATION,
            )
        try:
            async with session.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False,
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = transport_failure(exc)
            logger.warning("POST %s failed (%s): %r", url, failure.value, exc)
            return errors.build_error(
                message=f"{type(exc).__name__}: {exc}", transport_failure=failure
            )
        return parse_send_response(status, _json_or_none(text), text)


def _settle(
    future: concurrent.futures.Future[SendOutcome | None], task: asyncio.Task[SendOutcome | None]
) -> None:
    if task.cancelled():
        future.cancel()
    elif task.exception() is not None:
        future.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        future.set_result(task.result())


def transport_failure(exc: BaseException) -> TransportFailure:
    """Did the request possibly reach Meta? Only connect-phase failures prove it did not."""
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportFailure.CONFIGURATION
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return TransportFailure.CONNECT
    return TransportFailure.AFTER_SEND


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
