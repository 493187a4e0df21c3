"""The production web server's command line, kept in one place for the benchmarks, the fault
scenarios and the browser tests (the README shows the same command).

granian serves the WSGI application `config.wsgi:application`. Its HTTP layer is compiled
(keep-alive, request parsing, writing the answer) and Python runs only the application, so on two
cores it acknowledges several times as many of Meta's webhook POSTs per second as a pure-Python
server; `docs/benchmarks.md` has the figures. Each worker process answers on `threads` threads,
each with its own database connection.
"""

from __future__ import annotations

import sys
from pathlib import Path

APPLICATION = "config.wsgi:application"


def command(
    *,
    port: int,
    host: str = "127.0.0.1",
    workers: int = 2,
    threads: int = 8,
    log_level: str = "warning",
) -> list[str]:
    """granian's argv for this interpreter's environment, serving Tidings on `host:port`."""
    executable = Path(sys.executable).with_name("granian")
    return [
        str(executable), "--interface", "wsgi", APPLICATION,
        "--host", host, "--port", str(port),
        "--workers", str(workers), "--blocking-threads", str(threads),
        "--backlog", "2048", "--no-ws", "--log-level", log_level,
    ]  # fmt: skip
