"""Prometheus metrics: every instrument of the service, behind small functions.

The instruments are made on first use (no import-time side effects) in prometheus_client's
default registry. With `PROMETHEUS_MULTIPROC_DIR` set before prometheus_client is imported
(`coagent run --workers N` sets it for its worker processes, see main/workers.py), each
process writes its values to files in that directory and `render()` sums them over every
process; without it, `render()` reads this process's registry.

Label values are bounded: HTTP routes are templates (`/api/v1/rooms/{room_id}`, or
`unmatched` when no route answered), methods outside the standard ones are `OTHER`, task
names are the registered ones, LLM outcomes a fixed set. The LLM `model` label is what
agent configurations name (operators choose those).
"""

import functools
import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

logger = logging.getLogger("coagent.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format every Prometheus version reads (the HTTP layer adds the charset).
CONTENT_TYPE = "text/plain; version=0.0.4"
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LLM_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0)
_DEPTHS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True, slots=True)
class _Instruments:
    http: Histogram
    sockets: Gauge
    deliveries: Counter
    drops: Counter
    queue_depth: Histogram
    bus_reconnects: Counter
    task_runs: Counter
    task_seconds: Histogram
    llm_calls: Counter
    llm_tokens: Counter
    llm_seconds: Histogram


@functools.cache
def _instruments() -> _Instruments:
    return _Instruments(
        http=Histogram(
            "coagent_http_request_duration_seconds",
            "HTTP requests by method, route template and status; seconds to the last byte.",
            ["method", "route", "status"],
            buckets=_SECONDS,
        ),
        sockets=Gauge(
            "coagent_ws_open_sockets",
            "Chat WebSockets open (or being opened) now.",
            multiprocess_mode="livesum",
        ),
        deliveries=Counter(
            "coagent_ws_deliveries",
            "Frames queued to chat sockets.",
        ),
        drops=Counter(
            "coagent_ws_drops",
            "Chat sockets closed because their outbound queue was full (too slow).",
        ),
        queue_depth=Histogram(
            "coagent_ws_queue_depth",
            "Frames waiting in a socket's outbound queue when one is queued (sampled).",
            buckets=_DEPTHS,
        ),
        bus_reconnects=Counter(
            "coagent_bus_reconnects",
            "Times the fan-out bus reconnected to Redis after losing it.",
        ),
        task_runs=Counter(
            "coagent_task_runs",
            "Task executions by task name and outcome (ok, error).",
            ["task", "outcome"],
        ),
        task_seconds=Histogram(
            "coagent_task_duration_seconds",
            "Seconds a task execution took, by task name.",
            ["task"],
            buckets=(*_SECONDS, 30.0, 60.0, 300.0),
        ),
        llm_calls=Counter(
            "coagent_llm_calls",
            "Provider call attempts by provider, model and outcome.",
            ["provider", "model", "outcome"],
        ),
        llm_tokens=Counter(
            "coagent_llm_tokens",
            "Tokens the providers reported, by provider, model and direction (input, output).",
            ["provider", "model", "direction"],
        ),
        llm_seconds=Histogram(
            "coagent_llm_call_duration_seconds",
            "Seconds a provider call attempt took, by provider and model.",
            ["provider", "model"],
            buckets=_LLM_SECONDS,
        ),
    )


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "OTHER"
    _instruments().http.labels(method, route or UNMATCHED, str(status)).observe(seconds)


def socket_opened() -> None:
    _instruments().sockets.inc()


def socket_closed() -> None:
    _instruments().sockets.dec()


def frames_delivered(count: int) -> None:
    if count:
        _instruments().deliveries.inc(count)


def socket_dropped() -> None:
    _instruments().drops.inc()


def queue_depth(depth: int) -> None:
    _instruments().queue_depth.observe(depth)


def bus_reconnected() -> None:
    _instruments().bus_reconnects.inc()


def task_ran(task: str, outcome: str, seconds: float) -> None:
    instruments = _instruments()
    instruments.task_runs.labels(task, outcome).inc()
    instruments.task_seconds.labels(task).observe(seconds)


def llm_called(
    *,
    provider: str,
    model: str,
    outcome: str,
    seconds: float,
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> None:
    instruments = _instruments()
    instruments.llm_calls.labels(provider, model, outcome).inc()
    instruments.llm_seconds.labels(provider, model).observe(seconds)
    if input_tokens:
        instruments.llm_tokens.labels(provider, model, "input").inc(input_tokens)
    if output_tokens:
        instruments.llm_tokens.labels(provider, model, "output").inc(output_tokens)


def render() -> bytes:
    """The Prometheus text exposition: every process's values in multiprocess mode."""
    _instruments()  # so a scrape before any traffic still lists the metric names
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def process_died(pid: int) -> None:
    """Forget a dead worker process's live gauges (open sockets) in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this host's own (127.0.0.0/8, ::1)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an `Authorization` header carries `token` as a bearer token."""
    scheme, _, value = (authorization or "").partition(" ")
    sent = value.strip()
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.encode(), token.encode())


def wsgi_app(token: str | None) -> Callable[..., Iterable[bytes]]:
    """GET /metrics for a process without a web app (`coagent worker`), with the web app's
    rule: with a token, bearer or 401; without, loopback callers only, 404 for others.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or (
            token is None and not is_loopback(environ.get("REMOTE_ADDR"))
        ):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found\n"]
        if token is not None and not bearer_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer")],
            )
            return [b"Unauthorized\n"]
        start_response("200 OK", [("Content-Type", f"{CONTENT_TYPE}; charset=utf-8")])
        return [render()]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape on stderr (and never the client's request line)."""


def serve(host: str, port: int, token: str | None) -> WSGIServer:
    """Serve GET /metrics from a daemon thread of this process; returns the server."""
    server = make_server(host, port, wsgi_app(token), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    logger.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
