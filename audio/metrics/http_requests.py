"""Counting a server's HTTP requests and its errors by code, as an ASGI middleware around its app.

Labels stay few: the *route template* Starlette matched (``/v1/realtime/calls/{call_id}/hangup``,
never the path itself, so ids do not become series; ``other`` when nothing
matched), the method and the status. An error answer (status 400 and up)
is counted once more by its code: the ``error.code`` of an OpenAI-shaped
JSON body (``invalid_api_key``), else the status.
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry, Counter

Scope = dict[str, Any]
Message = dict[str, Any]
MAX_ERROR_BODY = 16 * 1024
"""Error bodies are read for their code up to this size; a larger one is counted by its status."""


class RequestMetrics:
    """``{prefix}_http_requests_total{route,method,status}`` and ``{prefix}_errors_total{code}``."""

    def __init__(self, registry: CollectorRegistry, prefix: str, what: str) -> None:
        self.requests = Counter(f"{prefix}_http_requests", f"HTTP requests the {what} answered, by route, method and status.",
                                ["route", "method", "status"], registry=registry)
        self.errors = Counter(f"{prefix}_errors", f"Error answers of the {what}, by error code (or HTTP status).",
                              ["code"], registry=registry)

    def middleware(self, app: Any) -> Any:
        """``app`` wrapped so every HTTP request it answers is counted."""
        metrics = self

        async def counted(scope: Scope, receive: Any, send: Any) -> None:
            if scope.get("type") != "http":
                await app(scope, receive, send)
                return
            status = 0
            error_body = bytearray()

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                elif message["type"] == "http.response.body" and status >= 400 and len(error_body) <= MAX_ERROR_BODY:
                    error_body.extend(message.get("body", b""))
                await send(message)

            try:
                await app(scope, receive, watch)
            finally:
                metrics.count(_route(scope), str(scope.get("method", "")), status or 500, bytes(error_body))

        return counted

    def count(self, route: str, method: str, status: int, body: bytes = b"") -> None:
        self.requests.labels(route, method, str(status)).inc()
        if status >= 400:
            self.errors.labels(error_code(status, body)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


def error_code(status: int, body: bytes) -> str:
    """``error.code`` of an OpenAI-shaped error body, else the HTTP status."""
    try:
        parsed = json.loads(body) if body and len(body) <= MAX_ERROR_BODY else None
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) <= 64:
        return code
    return str(status)
