"""command-tool: a function the model calls that runs a local program.

The command is an argv list, never a shell string (``python`` first means the
interpreter voxflow runs on); ``{name}`` placeholders in
its items are filled from the arguments (each stays one argument, whatever it
contains). The program gets no stdin, runs in the flow's folder, is killed at
its timeout or once its output passes ``max_output`` bytes. Its stdout is what
the model reads; a non-zero exit becomes an error output with stderr's end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from audio.session.tools import Tool, ToolError
from flow.nodes.base import NodeContext, NodeSettings
from flow.nodes.tool_base import FunctionSettings, ToolNode, check_function, fill, program

READ_CHUNK = 4096
STDERR_KEPT = 16 * 1024


class CommandToolSettings(FunctionSettings):
    command: list[str] | str = Field(description="argv list, e.g. [./bin/lights, \"{state}\"]; never a shell string.")
    max_output: int = Field(default=16 * 1024, gt=0, le=1024 * 1024, description="Bytes of output kept; the program is stopped past it.")


class CommandTool:
    def __init__(self, node_id: str, settings: CommandToolSettings, cwd: Path | None) -> None:
        self.node_id: str | None = node_id
        self.name = settings.name
        self.description = settings.description
        self.parameters = settings.parameters
        self.confirm = settings.confirm
        self._settings = settings
        self._cwd = cwd

    def secrets(self) -> Sequence[str]:
        return ()

    async def call(self, arguments: dict[str, Any]) -> str:
        settings = self._settings
        assert isinstance(settings.command, list)
        argv = program([fill(part, arguments) for part in settings.command])
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=self._cwd, start_new_session=True,
            )
        except OSError as error:
            raise ToolError(f"cannot start {argv[0]}: {error.strerror or error}") from None
        assert process.stdout is not None and process.stderr is not None
        errors = asyncio.ensure_future(_read_capped(process.stderr, STDERR_KEPT))
        try:
            async with asyncio.timeout(settings.timeout):
                stdout, cut = await _read_capped(process.stdout, settings.max_output)
                if cut:
                    process.kill()
                    await _drain(process.stdout)
                stderr, _ = await errors
                code = await process.wait()
        except TimeoutError:
            raise ToolError(f"{argv[0]} timed out after {settings.timeout:g} s and was stopped") from None
        finally:
            if process.returncode is None:  # timed out, or the call was cancelled (barge-in)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                errors.cancel()
                # read both pipes to their end: asyncio's wait() returns only once they are closed
                await asyncio.gather(_drain(process.stdout), _drain(process.stderr))
                await process.wait()
        text = stdout.decode("utf-8", errors="replace")
        if cut:
            return text + f"\n[output cut at {settings.max_output} bytes; the program was stopped]"
        if code != 0:
            tail = stderr.decode("utf-8", errors="replace").strip().splitlines()
            raise ToolError(f"{argv[0]} exited with status {code}" + (f": {tail[-1]}" if tail else ""))
        return text


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(READ_CHUNK * 16):
        pass


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes until EOF; True when there was more."""
    data = bytearray()
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            return bytes(data), False
        data += chunk
        if len(data) > limit:
            return bytes(data[:limit]), True


class CommandToolNode(ToolNode):
    type_name = "command-tool"
    summary = "A function the model can call that runs a local program (argv, no shell)."
    Settings = CommandToolSettings

    @classmethod
    def check_settings(cls, settings: NodeSettings) -> list[tuple[tuple[str | int, ...], str]]:
        assert isinstance(settings, CommandToolSettings)
        if not isinstance(settings.command, list):
            return [(("command",), "command must be a list (argv), not a shell string: write it as "
                     f"{settings.command.split()!r}")]
        if not settings.command or not settings.command[0].strip():
            return [(("command",), "command is empty: name the program first, e.g. [date]")]
        return check_function(settings, [(("command", index), part) for index, part in enumerate(settings.command)])

    @contextlib.asynccontextmanager
    async def open_tools(self, ctx: NodeContext) -> AsyncIterator[list[Tool]]:
        assert isinstance(self.settings, CommandToolSettings)
        cwd = ctx.resolve_path(".")
        yield [CommandTool(self.id, self.settings, cwd if cwd.is_dir() else None)]
