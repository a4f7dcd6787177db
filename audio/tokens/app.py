"""The HTTP face of the token service: a small Starlette app.

It reads at most 16 KiB of body while streaming it (Content-Length is not
trusted), insists on JSON, picks the mode from the body, validates it with
the pydantic models, and hands over to :class:`~.service.TokenService`.
Every answer that is not a minted secret is ``{"error": "..."}``. Validation
messages are built from field names and rules only, never from the input,
so a key pasted into the wrong field is not echoed back.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import SESSION_PATH
from .client_ip import ClientIpResolver
from .log_redaction import SECRET_SHAPES, redact
from .schemas import MAX_BODY_BYTES, SharedSessionRequest, UserKeySessionRequest, openapi_document
from .service import ServiceError, TokenService
from .store import StoreUnavailable

log = logging.getLogger("voxflow.token_service")

_FRIENDLY_FIELD_ERRORS = {
    "apiKeys": "apiKeys.openai is missing or malformed: pass your OpenAI API key (sk-...).",
    "shareToken": "shareToken is malformed: copy the whole vxs_... token the flow owner gave you.",
}


_PATTERN_HELP = {
    "runId": "use 1-128 letters, digits or . _ : - (and never a key or token)",
    "voice": "use a voice name such as marin, cedar or alloy",
    "model": "use a model id such as gpt-realtime",
    "transcriptionModel": "use a model id such as gpt-4o-mini-transcribe",
}

_PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$|^[0-9]{1,4}$")


class _BodyTooLarge(Exception):
    pass


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _safe_location(loc: tuple[int | str, ...]) -> str:
    """The field path, with any name that is not a plain short identifier (a pasted key?) hidden."""
    names = [str(part) for part in loc if str(part) not in {"server_vad", "semantic_vad", "none"}]
    return ".".join(name if _PLAIN_NAME.match(name) and not SECRET_SHAPES.search(name) else "<unknown>" for name in names)


def _validation_message(error: ValidationError) -> str:
    parts: list[str] = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        location = _safe_location(item["loc"])
        if location.split(".")[0] in _FRIENDLY_FIELD_ERRORS:
            return _FRIENDLY_FIELD_ERRORS[location.split(".")[0]]
        if item["type"] == "union_tag_invalid":
            message = "type must be one of server_vad, semantic_vad, none"
        elif item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "string_pattern_mismatch" and location in _PATTERN_HELP:
            message = _PATTERN_HELP[location]
        else:
            message = item["msg"]
        parts.append(f"{location or 'body'}: {message}")
    return redact("Invalid request: " + "; ".join(parts[:3]) + ".")


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BodyTooLarge
    return bytes(body)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _parse(payload: Any) -> UserKeySessionRequest | SharedSessionRequest:
    if not isinstance(payload, dict):
        raise ServiceError(400, "The body must be a JSON object.")
    if "shareToken" in payload and "apiKeys" in payload:
        raise ServiceError(400, "Send either apiKeys (your own key) or shareToken (the flow owner's), not both.")
    model = SharedSessionRequest if "shareToken" in payload else UserKeySessionRequest if "apiKeys" in payload else None
    if model is None:
        raise ServiceError(400, "No key given: send your OpenAI key as apiKeys.openai, or a share token as shareToken.")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise ServiceError(400, _validation_message(error)) from None


def uvicorn_config(app: Starlette, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "info", **options: Any) -> Any:
    """How the service must be served: uvicorn's own X-Forwarded-For handling switched off.

    uvicorn trusts the header from loopback by default; the service decides
    itself (``--trusted-proxy``, none by default), so uvicorn must not rewrite
    the peer address first.
    """
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False, **options)


def create_app(service: TokenService) -> Starlette:
    """The ASGI app; its lifespan starts and closes ``service`` (tests may start it themselves)."""
    resolver = ClientIpResolver(service.settings.trusted_proxies)
    document = openapi_document()

    async def create_session(request: Request) -> Response:
        if not _is_json(request.headers.get("content-type", "")):
            return error_response(415, "Send the body as JSON with Content-Type: application/json.")
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            return error_response(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KiB; shorten the instructions.")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return error_response(400, "The body is not valid JSON; send a JSON object.")
        client = resolver.resolve(request.client.host if request.client else None, request.headers.getlist("x-forwarded-for"))
        try:
            parsed = _parse(payload)
            minted = await service.create_session(parsed, client)
        except ServiceError as error:
            return error_response(error.status, error.message, error.headers)
        except StoreUnavailable as error:
            log.error("token store unavailable: %s", error.message)
            return error_response(503, "The token service's store is unavailable; try again later.")
        return JSONResponse(minted.response.model_dump(), headers=minted.headers)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        messages = {404: "No such endpoint; POST to " + SESSION_PATH + ".", 405: "Method not allowed on this path."}
        return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)), dict(exc.headers or {}))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with service:
            yield

    return Starlette(
        routes=[
            Route(SESSION_PATH, create_session, methods=["POST"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
