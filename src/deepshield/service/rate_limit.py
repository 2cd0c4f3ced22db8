"""Per-client request rate limit (RATE_LIMIT_RPS), a token bucket in memory.

Written here rather than taken from a library: the well-known options (slowapi, limits) bring
their own storage and decorator model for what is ~30 lines for one process; a multi-process
deployment should rate-limit at its proxy."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from deepshield.service.errors import envelope

EXEMPT_PREFIXES = ("/api/health", "/api/metrics")


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        rate: float,
        burst: float | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.app, self.rate = app, rate
        self.on_error = on_error or (lambda code: None)
        self.burst = burst or max(1.0, rate * 2)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            retry = max(1, round((1 - tokens) / self.rate))
            self.on_error("RATE_LIMITED")
            response = envelope(
                429, "RATE_LIMITED", "too many requests; slow down", {"Retry-After": str(retry)}
            )
            await response(scope, receive, send)
            return
        self._buckets[client] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # forget idle clients
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        await self.app(scope, receive, send)
