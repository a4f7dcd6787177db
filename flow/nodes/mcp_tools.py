"""mcp-tools: every tool of an MCP server (the official ``mcp`` SDK), over stdio or streamable HTTP.

The server is started (stdio: ``command`` as argv; ``python`` first means the
interpreter voxflow runs on) or reached (``url``) when
the flow runs, its tools are listed once and offered to the model under their
own names (``allow`` narrows them), and the session stays open for the whole
conversation. A server that cannot start is this node's error; a call that
fails, or a server that crashed meanwhile, is an error output the model hears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import Field, field_validator

from audio.base.errors import VoxflowError
from audio.session.tools import Tool, ToolError, check_schema
from flow.nodes.base import NodeContext, NodeSettings
from flow.nodes.tool_base import ToolNode, program, seconds

log = logging.getLogger(__name__)
CLOSE_SECONDS = 10.0  # the SDK's shutdown: 2 s for the server to exit after its stdin closes, then SIGTERM, SIGKILL


class McpToolsSettings(NodeSettings):
    command: list[str] | str | None = Field(default=None, description="stdio server as argv, e.g. [python, -m, my_server].")
    url: str | None = Field(default=None, description="streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp.")
    allow: list[str] | None = Field(default=None, description="Only these tools (default: all the server lists).")
    confirm: bool = Field(default=False, description="Ask the operator before each call (headless: --approve-tools).")
    timeout: float = Field(default=30.0, description="Seconds (or 30s) for starting the server and for each call.")

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return seconds(value)


class McpTool:
    def __init__(self, node_id: str, client: Any, listed: Any, settings: McpToolsSettings) -> None:
        self.node_id: str | None = node_id
        self.name = listed.name
        self.description = listed.description or ""
        schema = dict(listed.input_schema or {"type": "object", "properties": {}})
        self.parameters = schema if check_schema(schema) is None else {"type": "object", "properties": {}}
        self.confirm = settings.confirm
        self._client = client
        self._timeout = settings.timeout

    def secrets(self) -> Sequence[str]:
        return ()

    async def call(self, arguments: dict[str, Any]) -> str:
        try:
            result = await self._client.call_tool(self.name, arguments, read_timeout_seconds=self._timeout)
        except Exception as error:  # the SDK raises McpError, anyio stream errors, timeouts...
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ToolError(f"the MCP server failed on {self.name}: {detail}") from None
        texts = [getattr(part, "text", None) for part in result.content]
        text = "\n".join(t for t in texts if t) or ("" if result.structured_content is None else str(result.structured_content))
        if result.is_error:
            raise ToolError(text or f"{self.name} reported an error")
        return text


class McpToolsNode(ToolNode):
    type_name = "mcp-tools"
    summary = "Every tool of an MCP server (stdio command or streamable HTTP url)."
    Settings = McpToolsSettings

    @classmethod
    def check_settings(cls, settings: NodeSettings) -> list[tuple[tuple[str | int, ...], str]]:
        assert isinstance(settings, McpToolsSettings)
        if (settings.command is None) == (settings.url is None):
            return [((), "give either command (a stdio server, as a list) or url (streamable HTTP), not both or neither")]
        if isinstance(settings.command, str):
            return [(("command",), f"command must be a list (argv), not a shell string: write it as {settings.command.split()!r}")]
        if settings.command is not None and not settings.command:
            return [(("command",), "command is empty: name the program first, e.g. [python, -m, my_server]")]
        if settings.url is not None and not settings.url.startswith(("http://", "https://")):
            return [(("url",), "url must start with http:// or https://")]
        return []

    @contextlib.asynccontextmanager
    async def open_tools(self, ctx: NodeContext) -> AsyncIterator[list[Tool]]:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        settings = self.settings
        assert isinstance(settings, McpToolsSettings)
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            if isinstance(settings.command, list):
                cwd = ctx.resolve_path(".")
                argv = program(settings.command)
                same_python = argv[0] == sys.executable and "PYTHONPATH" in os.environ  # voxflow's import path too
                params = StdioServerParameters(command=argv[0], args=argv[1:],
                                               env={"PYTHONPATH": os.environ["PYTHONPATH"]} if same_python else None,
                                               cwd=str(cwd) if cwd.is_dir() else None)
                client = Client(stdio_client(params, errlog=errlog), read_timeout_seconds=settings.timeout)
                what = f"the MCP server {' '.join(settings.command)!r}"
            else:
                client = Client(str(settings.url), read_timeout_seconds=settings.timeout)
                what = f"the MCP server at {settings.url}"

            def failed(error: BaseException) -> VoxflowError:
                errlog.seek(0)
                said = [line.strip() for line in errlog.read().splitlines() if line.strip()]
                detail = said[-1] if said else _first_line(error)
                return VoxflowError(f"mcp-tools '{self.id}': {what} could not be started: {detail}",
                                    hint="Check the command or url; run it by hand to see its error.")

            holder = _ClientHolder(client)
            try:
                try:
                    async with asyncio.timeout(settings.timeout):
                        entered, listed = await holder.open()
                except (Exception, BaseExceptionGroup) as error:
                    raise failed(error) from None
                missing = sorted(set(settings.allow or ()) - {tool.name for tool in listed})
                if missing:
                    raise VoxflowError(f"mcp-tools '{self.id}': {what} has no tool {', '.join(missing)} "
                                       f"(it lists: {', '.join(t.name for t in listed) or 'none'})")
                yield [McpTool(self.id, entered, tool, settings) for tool in listed
                       if settings.allow is None or tool.name in settings.allow]
            finally:
                failure = await holder.close()
            if failure is not None:  # anyio wraps a failure of the transport when it closes
                raise VoxflowError(f"mcp-tools '{self.id}': {what} failed: {_first_line(failure)}") from None


class _ClientHolder:
    """Opens and closes the SDK's client in a task of its own, so that a cancel never lands inside its shutdown.

    The engine stops a node with ``task.cancel()``. Landing in the SDK's
    shutdown (close stdin, wait for the server to exit, then kill it), a
    native cancel aborts it before the kill: the server lives on and the
    shielded read of its stdout never ends, so the flow could not stop and
    ignored Ctrl-C. Here the node's task only asks for the close and waits
    for it (up to :data:`CLOSE_SECONDS`, even when cancelled meanwhile).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._opened: asyncio.Future[tuple[Any, list[Any]]] = asyncio.get_running_loop().create_future()
        self._release = asyncio.Event()
        self._task = asyncio.ensure_future(self._hold())

    async def _hold(self) -> None:
        try:
            async with self._client as entered:
                listed = (await entered.list_tools()).tools
                self._opened.set_result((entered, listed))
                await self._release.wait()
        except BaseException as error:
            if not self._opened.done():
                if isinstance(error, asyncio.CancelledError):
                    self._opened.cancel()
                else:
                    self._opened.set_exception(error)
            raise

    async def open(self) -> tuple[Any, list[Any]]:
        """The entered client and its tools, once listed (cancelling this cancels the opening)."""
        try:
            return await asyncio.shield(self._opened)
        except asyncio.CancelledError:
            if not self._opened.done():
                self._task.cancel()  # still starting: no shutdown under way yet
            raise

    async def close(self) -> BaseException | None:
        """Let the client shut down and wait for it; what failed while it was open, if anything."""
        self._release.set()
        if not self._opened.done():
            self._task.cancel()
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.done():  # our own task was cancelled: the close still gets its time
                await asyncio.wait({self._task}, timeout=CLOSE_SECONDS)
                if not self._task.done():
                    log.warning("an MCP client did not close within %.0f s", CLOSE_SECONDS)
                raise
        except BaseException:
            pass
        if self._task.cancelled() or not self._opened.done() or self._opened.cancelled():
            return None
        failure = self._task.exception()
        if failure is None or self._opened.exception() is not None:
            return None
        if isinstance(failure, BaseExceptionGroup) and failure.subgroup(asyncio.CancelledError) is not None:
            return None
        return failure


def _first_line(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
