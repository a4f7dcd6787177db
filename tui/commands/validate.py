"""``voxflow validate`` and ``voxflow schema``: check flows without running them."""

from __future__ import annotations

import sys

import click

from flow.errors import FlowError


@click.command()
@click.argument("flows", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
def validate(flows: tuple[str, ...]) -> None:
    """Check FLOWS; print 'FILE: ok' or every error as FILE:LINE:COL: message."""
    from pathlib import Path

    from flow.loader import load_flow
    from flow.packaged import find_flow

    failed = 0
    for path in flows:
        try:
            found = find_flow(Path(path))
            flow = load_flow(found)
        except FlowError as error:
            failed += 1
            click.echo(str(error), err=True)
        else:
            shipped = "" if found == Path(path) else f" [the shipped {found}]"
            click.echo(f"{path}: ok ({len(flow.nodes)} nodes, {len(flow.edges)} edges){shipped}")
    if failed:
        click.echo(f"{failed} of {len(flows)} flow(s) invalid", err=True)
        sys.exit(1)


@click.command()
def schema() -> None:
    """Print the JSON Schema of flow files (for yaml-language-server and other editors)."""
    from flow.schema import json_schema_text

    click.echo(json_schema_text())
