"""A stand-in for Meta's Cloud API for benchmarks and fault runs: one asyncio process, loopback.

It speaks Meta's send format (`POST /{version}/{phone-number-id}/messages`), answers after a
configurable latency, enforces its own per-number throughput cap the way Meta does (130429 beyond
it), injects errors on request (a share of 130429, 5xx, 131026, timeouts, dropped connections),
and keeps its own ledger of every accepted send keyed by our message id
(`biz_opaque_callback_data`), so duplicates and losses are counted independently of Tidings's
database. It can post signed status webhooks (sent, delivered, read) back to Tidings.

Run: `python -m bench.meta_standin --port 8789 --latency 0.2` and read `GET /_ledger` (counts)
or `GET /_ledger/ids` (every accepted id with its count) or `GET /_ledger/times` (when each was
accepted, Unix seconds). `POST /_config` changes the error mix
while running; `POST /_reset` clears the ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import hmac
import itertools
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from . import payloads

WEBHOOK_RETRY_DELAYS = (1, 2, 4, 8, 15, 30, 60)


@dataclass
class Faults:
    """Shares of requests answered with a fault instead of success (0.0 to 1.0 each)."""

    rate_limit: float = 0.0  # 130429
    server_error: float = 0.0  # HTTP 500 with Meta's error 131000 ("Something went wrong")
    gateway_error: float = 0.0  # HTTP 502 from a proxy, no JSON: nothing says what happened
    undeliverable: float = 0.0  # 131026
    timeout: float = 0.0  # accepted, but answered after `timeout_seconds`
    drop: float = 0.0  # connection closed without an answer (after acceptance)
    expired_token: bool = False  # every request answered 190
    timeout_seconds: float = 30.0


@dataclass
class Ledger:
    accepted: collections.Counter = field(default_factory=collections.Counter)
    # Wall-clock time (Unix seconds) each id was accepted, every time: fault runs compare these
    # with when an opt-out was committed.
    accepted_at: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    # Status webhooks delivered (answered 200) per id: three each (sent, delivered, read).
    reported: collections.Counter = field(default_factory=collections.Counter)
    rejected: collections.Counter = field(default_factory=collections.Counter)
    arrivals: list[float] = field(default_factory=list)

    def max_in_sliding_second(self) -> int:
        """The most accepted sends that arrived within any one-second window."""
        times = sorted(self.arrivals)
        best, start = 0, 0
        for end, arrived in enumerate(times):
            while arrived - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def summary(self) -> dict[str, Any]:
        duplicates = sum(count - 1 for count in self.accepted.values() if count > 1)
        span = (max(self.arrivals) - min(self.arrivals)) if len(self.arrivals) > 1 else 0.0
        return {
            "requests": self.requests,
            "accepted_unique": len(self.accepted),
            "accepted_total": sum(self.accepted.values()),
            "duplicates": duplicates,
            "rejected": dict(self.rejected),
            "max_in_sliding_second": self.max_in_sliding_second(),
            "unreported": sum(1 for key in self.accepted if self.reported[key] < 3),
            "mean_rate": (len(self.arrivals) - 1) / span if span else 0.0,
        }


class StandIn:
    def __init__(
        self,
        *,
        latency: float,
        cap_per_second: int,
        faults: Faults,
        webhook_url: str | None,
        app_secret: str,
        access_token: str,
        seed: int,
    ) -> None:
        self.latency = latency
        self.cap = cap_per_second
        self.faults = faults
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.access_token = access_token
        self.ledger = Ledger()
        self.random = random.Random(seed)
        self.sequence = itertools.count(1)
        self.window: collections.deque[float] = collections.deque()
        self.webhooks: asyncio.Queue[dict] = asyncio.Queue()
        self.statuses_posted = 0
        self.webhook_retries = 0
        self._posting: set[asyncio.Task] = set()

    # --- Meta's API --------------------------------------------------------------------------

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self.ledger.requests += 1
        arrived = time.monotonic()
        arrived_wall = time.time()
        if request.headers.get("Authorization") != f"Bearer {self.access_token}" or (
            self.faults.expired_token
        ):
            return self.error(401, 190, "Error validating access token: Session has expired")
        try:
            body = await request.json()
        except ValueError:
            return self.error(400, 100, "Invalid JSON")
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return self.error(400, 100, "(#100) Invalid parameter")
        if not self._within_cap(arrived):
            return self.error(400, 130429, "(#130429) Rate limit hit")
        roll = self.random.random()
        faults = self.faults
        await asyncio.sleep(self.latency)
        if roll < faults.rate_limit:
            return self.error(400, 130429, "(#130429) Rate limit hit")
        roll -= faults.rate_limit
        if roll < faults.server_error:
            return self.error(500, 131000, "(#131000) Something went wrong")
        roll -= faults.server_error
        if roll < faults.gateway_error:
            self.ledger.rejected["502"] += 1
            return web.Response(status=502, text="Bad Gateway")
        roll -= faults.gateway_error
        if roll < faults.undeliverable:
            return self.error(400, 131026, "(#131026) Message undeliverable")
        roll -= faults.undeliverable
        callback = body.get("biz_opaque_callback_data") or ""
        wamid = f"wamid.BENCH{next(self.sequence):016d}"
        # From here on the message counts as sent, whatever happens to the answer: that is what
        # makes timeouts and dropped connections ambiguous for the sender.
        self.ledger.accepted[callback] += 1
        self.ledger.accepted_at.setdefault(callback, []).append(arrived_wall)
        self.ledger.arrivals.append(arrived)
        if self.webhook_url:
            self.webhooks.put_nowait({"wamid": wamid, "callback": callback, "to": body["to"]})
        if roll < faults.timeout:
            await asyncio.sleep(faults.timeout_seconds)
        elif roll < faults.timeout + faults.drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"].lstrip("+")}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            }
        )

    def _within_cap(self, now: float) -> bool:
        if not self.cap:
            return True
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) >= self.cap:
            return False
        self.window.append(now)
        return True

    def error(self, status: int, code: int, message: str) -> web.Response:
        self.ledger.rejected[str(code)] += 1
        return web.json_response(
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": message},
                    "fbtrace_id": "BENCHTRACE",
                }
            },
            status=status,
        )

    # --- Control -----------------------------------------------------------------------------

    async def ledger_view(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                **self.ledger.summary(),
                "statuses_posted": self.statuses_posted,
                "webhook_retries": self.webhook_retries,
            }
        )

    async def ledger_ids(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.ledger.accepted))

    async def ledger_times(self, request: web.Request) -> web.Response:
        return web.json_response(self.ledger.accepted_at)

    async def configure(self, request: web.Request) -> web.Response:
        changes = await request.json()
        for name, value in changes.items():
            if name == "latency":
                self.latency = float(value)
            elif name == "cap":
                self.cap = int(value)
            elif hasattr(self.faults, name):
                setattr(self.faults, name, type(getattr(self.faults, name))(value))
        return web.json_response(asdict(self.faults) | {"latency": self.latency, "cap": self.cap})

    async def reset(self, request: web.Request) -> web.Response:
        self.ledger = Ledger()
        self.statuses_posted = 0
        return web.json_response({"reset": True})

    # --- Status webhooks ---------------------------------------------------------------------

    async def post_webhooks(self) -> None:
        """Batch accepted sends into signed `sent`/`delivered`/`read` webhooks, like Meta."""
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while True:
                first = await self.webhooks.get()
                batch = [first]
                while len(batch) < 50 and not self.webhooks.empty():
                    batch.append(self.webhooks.get_nowait())
                # Each batch is delivered on its own, so one being retried holds up no other.
                task = asyncio.create_task(self._post_batch(session, batch))
                self._posting.add(task)
                task.add_done_callback(self._posting.discard)

    async def _post_batch(self, session: ClientSession, batch: list[dict]) -> None:
        for status in ("sent", "delivered", "read"):
            await self._post_statuses(session, batch, status)

    async def _post_statuses(self, session: ClientSession, batch: list[dict], status: str) -> None:
        now = int(time.time())
        body = payloads.messages_webhook(
            {
                "statuses": [
                    payloads.status(
                        wamid=item["wamid"],
                        status=status,
                        timestamp=now,
                        recipient=item["to"].lstrip("+"),
                        callback=item["callback"],
                    )
                    for item in batch
                ]
            }
        )
        raw = payloads.encoded(body)
        signature = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        # Like Meta, deliver again what was not answered 200 (Meta keeps trying for days; this
        # bounded run gives up after about two minutes).
        for delay in WEBHOOK_RETRY_DELAYS:
            with contextlib.suppress(Exception):
                async with session.post(
                    self.webhook_url,
                    data=raw,
                    headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": f"sha256={signature}",
                    },
                ) as response:
                    await response.read()
                    if response.status == 200:
                        self.statuses_posted += len(batch)
                        self.ledger.reported.update(item["callback"] for item in batch)
                        return
            self.webhook_retries += 1
            await asyncio.sleep(delay)


def build_app(stand_in: StandIn) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/{version}/{node}/messages", stand_in.messages)
    app.router.add_post("/{node}/messages", stand_in.messages)
    app.router.add_get("/_ledger", stand_in.ledger_view)
    app.router.add_get("/_ledger/ids", stand_in.ledger_ids)
    app.router.add_get("/_ledger/times", stand_in.ledger_times)
    app.router.add_post("/_config", stand_in.configure)
    app.router.add_post("/_reset", stand_in.reset)

    async def start_webhooks(app: web.Application) -> None:
        if stand_in.webhook_url:
            app["webhooks"] = asyncio.create_task(stand_in.post_webhooks())

    app.on_startup.append(start_webhooks)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8789)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--cap", type=int, default=0, help="msg/s per process; 0 = no cap")
    parser.add_argument("--access-token", default="bench-access-token")
    parser.add_argument("--app-secret", default="bench-app-secret")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop by itself")
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the stand-in only listens on loopback")
    stand_in = StandIn(
        latency=args.latency,
        cap_per_second=args.cap,
        faults=Faults(),
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        access_token=args.access_token,
        seed=args.seed,
    )

    async def serve() -> None:
        runner = web.AppRunner(build_app(stand_in), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, args.host, args.port, backlog=2048).start()
        await asyncio.sleep(args.max_seconds)
        await runner.cleanup()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
