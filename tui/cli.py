"""The ``voxflow`` command: a click group whose subcommands load lazily.

Each subcommand lives in its own module under ``tui/commands`` and is imported
only when invoked (or listed by ``--help``'s short help), so ``voxflow --help``
and ``voxflow validate`` start without importing aiortc, PyAV or Textual.
A :class:`~audio.base.errors.VoxflowError` becomes a one- or two-line message and
exit status 2 (1 for a failed run is the command's own choice), never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from audio.base.errors import VoxflowError

# name -> ("module:attribute", short help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("tui.commands.run:run", "Open the app on a flow (or pick one): live voice conversation from the terminal."),
    "validate": ("tui.commands.validate:validate", "Check flow files and report every error with FILE:LINE:COL."),
    "schema": ("tui.commands.validate:schema", "Print the JSON Schema of the flow format (for editors)."),
    "devices": ("tui.commands.devices:devices", "List sound input and output devices (or say how to get them)."),
    "echo-cancel": ("tui.commands.echo:echo_cancel", "Remove the speaker's echo from a recorded microphone (offline)."),
    "echo-test": ("tui.commands.echo:echo_test", "Play a phrase, record it, report the echo delay and the echo removed."),
    "serve-tokens": ("tui.commands.tokens:serve_tokens", "Serve the token service: mint ephemeral Realtime secrets."),
    "owner": ("tui.commands.tokens:owner", "Manage flow owners and their (encrypted) OpenAI keys."),
    "share": ("tui.commands.tokens:share", "Create, list and revoke share tokens."),
    "executions": ("tui.commands.tokens:executions", "Show the log of owner-funded session attempts."),
    "rotate-key": ("tui.commands.tokens:rotate_key", "Re-encrypt owner keys with the active encryption key."),
    "history": ("tui.commands.history:history", "List, show and export past app sessions' transcripts."),
    "config": ("tui.commands.config:config", "Show the settings a run uses and where each came from (config file, flow, flags)."),
    "serve-realtime": ("tui.commands.serve_realtime:serve_realtime", "Serve an offline stand-in for OpenAI's Realtime API."),
    "test": ("tui.commands.test:test", "Call a flow with scripted callers (scenario files): pass rates, JUnit, HTML report."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module_name, attribute = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voxflow")
def cli() -> None:
    """voxflow: run realtime voice-AI conversation flows from the terminal."""


def main(argv: list[str] | None = None) -> None:
    try:
        result = cli.main(args=argv, prog_name="voxflow", standalone_mode=False)
    except VoxflowError as error:
        click.echo(f"voxflow: {error}", err=True)
        sys.exit(2)
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.format_message())
        sys.exit(0)
    except click.UsageError as error:  # two lines instead of click's usage block
        command = error.ctx.command_path if error.ctx is not None else "voxflow"
        click.echo(f"{command}: {error.format_message()}\nTry '{command} --help'.", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("voxflow: aborted", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
