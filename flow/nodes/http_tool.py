"""http-tool: a function the model calls that makes one HTTP request (httpx).

Placeholders ``{name}`` in the URL are filled from the arguments, URL-encoded;
for POST/PUT/PATCH the arguments are also sent as the JSON body. Header values
may name environment variables (``${ENV_NAME}``): they are read when the flow
runs and treated as secrets (never logged, redacted from outputs). The response
body (status line first when it is not 2xx) is what the model reads.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from audio.base.errors import VoxflowError
from audio.session.tools import Tool, ToolError
from flow.nodes.base import NodeContext, NodeSettings
from flow.nodes.tool_base import FunctionSettings, ToolNode, check_function, fill

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class HttpToolSettings(FunctionSettings):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(description="http(s) URL; {name} placeholders are filled from the arguments, URL-encoded.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers; values may use ${ENV_NAME}.")


class HttpTool:
    def __init__(self, node_id: str, settings: HttpToolSettings, client: httpx.AsyncClient, headers: dict[str, str],
                 secrets: list[str]) -> None:
        self.node_id: str | None = node_id
        self.name = settings.name
        self.description = settings.description
        self.parameters = settings.parameters
        self.confirm = settings.confirm
        self._settings = settings
        self._client = client
        self._headers = headers
        self._secrets = secrets

    def secrets(self) -> Sequence[str]:
        return self._secrets

    async def call(self, arguments: dict[str, Any]) -> str:
        settings = self._settings
        url = fill(settings.url, arguments, quote=lambda text: quote(text, safe=""))
        body = arguments if settings.method in ("POST", "PUT", "PATCH") else None
        try:
            response = await self._client.request(settings.method, url, headers=self._headers, json=body,
                                                  timeout=settings.timeout)
        except httpx.TimeoutException:
            raise ToolError(f"{settings.method} {_origin(url)} timed out after {settings.timeout:g} s") from None
        except httpx.HTTPError as error:
            raise ToolError(f"{settings.method} {_origin(url)} failed: {type(error).__name__}") from None
        text = response.text
        if not response.is_success:
            raise ToolError(f"HTTP {response.status_code} {response.reason_phrase}: {text.strip()[:500]}")
        return text


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}"


class HttpToolNode(ToolNode):
    type_name = "http-tool"
    summary = "A function the model can call that makes an HTTP request."
    Settings = HttpToolSettings

    @classmethod
    def check_settings(cls, settings: NodeSettings) -> list[tuple[tuple[str | int, ...], str]]:
        assert isinstance(settings, HttpToolSettings)
        problems = check_function(settings, [(("url",), settings.url)])
        if not settings.url.startswith(("http://", "https://")):
            problems.append((("url",), "url must start with http:// or https://"))
        return problems

    @contextlib.asynccontextmanager
    async def open_tools(self, ctx: NodeContext) -> AsyncIterator[list[Tool]]:
        settings = self.settings
        assert isinstance(settings, HttpToolSettings)
        headers: dict[str, str] = {}
        secrets: list[str] = []
        for key, value in settings.headers.items():
            def from_env(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in os.environ:
                    raise VoxflowError(f"http-tool '{self.id}': header {key} uses ${{{name}}} but {name} is not set",
                                       hint=f"export {name}=... before running the flow")
                secrets.append(os.environ[name])
                return os.environ[name]
            headers[key] = ENV_REFERENCE.sub(from_env, value)
        async with httpx.AsyncClient(follow_redirects=False) as client:
            yield [HttpTool(self.id, settings, client, headers, secrets)]
