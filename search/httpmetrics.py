"""HTTP metrics of the API process: requests by route, method and status, and their latency.

The route label is the path *template* (``/api/stories/{story_id}``), never the raw path,
so a client cannot create one series per story id; requests that match no route are
labelled ``unmatched``. Probes and scrapes are counted like any other route.

    storywire_http_requests_total{route, method, status}
    storywire_http_request_seconds{route}          (histogram)
    storywire_http_requests_in_flight              (gauge)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("storywire_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "storywire_http_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("storywire_http_requests_in_flight", "HTTP requests being answered")


def route_of(request: Request) -> str:
    """The matched route's path template, or ``unmatched``."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def instrument(app: FastAPI) -> None:
    """Count and time every request the app answers (a handler that raises counts as a 500)."""

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        IN_FLIGHT.inc()
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            IN_FLIGHT.dec()
            route = route_of(request)
            REQUESTS.labels(route, request.method, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)
