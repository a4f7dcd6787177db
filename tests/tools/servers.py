"""Loopback servers the tool tests call: a small Starlette weather API on uvicorn (random port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

FORECASTS = {"paris": "sunny and 21 degrees", "london": "rainy and 12 degrees"}


class WeatherApi:
    """``GET /weather?city=X`` answers from FORECASTS; records each request's query and Authorization header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.unblock = asyncio.Event()  # /slow answers once this is set
        self.app = Starlette(routes=[
            Route("/weather", self._weather),
            Route("/echo", self._echo, methods=["POST"]),
            Route("/slow", self._slow),
        ])

    async def _weather(self, request: Request) -> PlainTextResponse:
        city = request.query_params.get("city", "")
        self.requests.append((str(request.url.query), request.headers.get("authorization")))
        forecast = FORECASTS.get(city.lower())
        if forecast is None:
            return PlainTextResponse(f"no forecast for {city}", status_code=404)
        return PlainTextResponse(forecast)

    async def _echo(self, request: Request) -> JSONResponse:
        return JSONResponse({"got": await request.json()})

    async def _slow(self, request: Request) -> PlainTextResponse:
        await asyncio.wait_for(self.unblock.wait(), 30)
        return PlainTextResponse("late")


class _Quiet(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


@asynccontextmanager
async def serve(app: object, *, lifespan: str = "off") -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Quiet(uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False))  # type: ignore[arg-type]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
