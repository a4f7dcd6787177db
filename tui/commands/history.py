"""``voxflow history``: the app's past sessions (list, show one, export one).

The app keeps every session's transcript under the user data directory as it
happens (:mod:`tui.history`); this command reads it back.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("history", invoke_without_command=True)
@click.pass_context
def history(ctx: click.Context) -> None:
    """List past app sessions (newest first); `show ID` prints one, `export ID --to DIR` copies it."""
    if ctx.invoked_subcommand is not None:
        return
    from tui.history import SessionHistory

    store = SessionHistory()
    entries = store.entries()
    if not entries:
        click.echo(f"no sessions yet in {store.directory} (the app keeps one per run; --no-history opts out)")
        return
    click.echo(f"{len(entries)} session(s) in {store.directory}")
    for entry in entries:
        words = entry.first_words if len(entry.first_words) <= 40 else entry.first_words[:39] + "…"
        click.echo(f"{entry.id}  {entry.started}  {entry.title}  {entry.turns} turn(s)" + (f"  “{words}”" if words else ""))


@history.command("show")
@click.argument("session_id", metavar="ID")
def show(session_id: str) -> None:
    """Print session ID's transcript (Markdown); ID may be any unique prefix."""
    from tui.history import SessionHistory

    entry = SessionHistory().find(session_id)
    try:
        click.echo(entry.markdown.read_text(encoding="utf-8"), nl=False)
    except OSError:
        click.echo(entry.jsonl.read_text(encoding="utf-8"), nl=False)


@history.command("export")
@click.argument("session_id", metavar="ID")
@click.option("--to", "to", required=True, type=click.Path(path_type=Path, file_okay=False), metavar="DIR", help="Folder to copy ID.jsonl and ID.md into.")
def export(session_id: str, to: Path) -> None:
    """Copy session ID's transcript files (JSONL and Markdown) into DIR."""
    from tui.history import SessionHistory

    for path in SessionHistory().export(session_id, to):
        click.echo(str(path))
