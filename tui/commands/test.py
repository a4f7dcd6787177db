"""``voxflow test SCENARIOS.yaml...``: call a flow with scripted callers; ``voxflow test merge`` joins shards.

One line per run as it finishes (PASS, or FAIL with the first failure), then
each scenario's pass rate with its 95 % Wilson interval, then the reports
asked for (``--junit``, ``--report``, ``--json``). Exit status: 0 when every
scenario meets its pass rate, 1 when one does not (or the run was
interrupted: Ctrl-C and SIGTERM close every conversation and write what was
done), 2 for invalid files or arguments. Recordings and transcripts of every
run go to ``--artifacts`` (default: a new temporary folder, kept and named).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from audio.base.errors import VoxflowError

REPORTS = {"--junit": ("flow.scenarios.junit", "junit_xml"), "--report": ("flow.scenarios.html_report", "html_report")}
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _TestGroup(click.Group):
    """``voxflow test FILE...`` is ``voxflow test run FILE...``; ``merge`` is the one other subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:  # in CI, an empty list of files must not pass as a green run
            click.echo("Usage: voxflow test SCENARIOS.yaml... [OPTIONS] (voxflow test --help lists the options)", err=True)
            click.echo("voxflow test: no scenario files given: voxflow test SCENARIOS.yaml...", err=True)
            ctx.exit(2)
        if args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("test", cls=_TestGroup, context_settings={"help_option_names": ["-h", "--help"]})
def test() -> None:
    """Call a flow with scripted callers: voxflow test SCENARIOS.yaml... [OPTIONS] (see: voxflow test run --help).

    Each scenario's caller speaks its turns, waits for the replies (or barges in), and every turn's
    expectations are checked; a scenario passes when enough of its runs pass. docs/TESTING.md has the format.
    """


def _report_options(function: Any) -> Any:
    for option in reversed((
        click.option("--junit", "junit_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.xml",
                     help="Write JUnit XML: one test case per run."),
        click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.html",
                     help="Write a self-contained HTML report (recordings playable in the page)."),
        click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.json",
                     help="Write the results as JSON (what voxflow test merge reads)."),
    )):
        function = option(function)
    return function


@test.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False), metavar="SCENARIOS.yaml...")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Conversations at once (one process, one local server).")
@click.option("--repeat", type=click.IntRange(1, 10_000), help="Runs per scenario, instead of each scenario's repeat.")
@click.option("--shard", metavar="K/N", help="Run the K-th of N stable slices of the runs (CI matrices; join them with voxflow test merge).")
@_report_options
@click.option("--provider", type=click.Choice(["local", "openai"]), default="local", show_default=True,
              help="The local Realtime server (offline) or OpenAI (needs OPENAI_API_KEY).")
@click.option("--transport", type=click.Choice(["webrtc", "websocket"]), help="How conversations reach the service (default: the flow's).")
@click.option("--artifacts", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Where each run's recording and transcript go (default: a new temporary folder, kept).")
def run_tests(files: tuple[Path, ...], jobs: int, repeat: int | None, shard: str | None, junit_path: Path | None,
              report_path: Path | None, json_path: Path | None, provider: str, transport: str | None,
              artifacts: Path | None) -> None:
    """Run the scenarios of SCENARIOS.yaml... and exit 0 (all pass), 1 (one fails) or 2 (invalid input)."""
    from flow.errors import FlowError
    from flow.scenarios.conversation import RunSettings
    from flow.scenarios.loader import load_scenarios, local_caller_problems
    from flow.scenarios.suite import Shard, SuiteRunner

    chosen_shard = Shard.parse(shard) if shard is not None else None
    _check_reports(junit_path, report_path, json_path)
    api_key = os.environ.get("OPENAI_API_KEY") or None
    loaded, problems = [], []
    for path in files:
        try:
            loaded.append(load_scenarios(path))
        except FlowError as error:
            problems.append(str(error))
        else:
            if provider == "local":
                problems.extend(local_caller_problems(loaded[-1]))
    if problems:
        click.echo("\n".join(problems), err=True)
        sys.exit(2)
    if provider == "openai" and not api_key:
        voices = sorted({f"{file.spec.caller.voice} ({file.name})" for file in loaded if file.spec.caller.engine == "openai"})
        also = f"; so does the caller's voice {', '.join(voices)}" if voices else ""
        raise VoxflowError(f"--provider openai needs OPENAI_API_KEY, which is not set{also}",
                           hint="Export OPENAI_API_KEY, or run against the local server: --provider local (the default"
                                + ("; it speaks openai: voices with eSpeak)." if voices else")."))
    folder = artifacts if artifacts is not None else Path(tempfile.mkdtemp(prefix="voxflow-test-"))
    folder.mkdir(parents=True, exist_ok=True)
    click.echo(f"voxflow test: {provider} provider, {jobs} at a time; recordings and transcripts in {folder}", err=True)
    settings = RunSettings(artifacts=folder, provider=provider, transport=transport, api_key=api_key if provider == "openai" else None,
                           base_url=(os.environ.get("OPENAI_BASE_URL") or None) if provider == "openai" else None)

    def on_run(run: Any, of: int) -> None:
        from flow.scenarios.summary import run_line

        click.echo(run_line(run, of))

    runner = SuiteRunner(loaded, settings, jobs=jobs, repeat=repeat, shard=chosen_shard, on_run=on_run)
    suite = asyncio.run(_run(runner))
    verdicts = {(scenario.file, scenario.name): runner.holds(scenario) for scenario in suite.scenarios}
    _finish(suite, verdicts, junit_path, report_path, json_path)
    if runner.interrupted:
        click.echo("voxflow test: interrupted; every conversation was closed and the results so far were written", err=True)
        sys.exit(1)
    if not suite.scenarios and chosen_shard is not None:  # more shards than runs: this one has nothing to do
        click.echo(f"voxflow test: shard {chosen_shard} holds none of the {sum(runner.planned.values())} planned run(s)", err=True)
        sys.exit(0)
    sys.exit(0 if all(verdicts.values()) and suite.scenarios else 1)


async def _run(runner: Any) -> Any:
    loop = asyncio.get_running_loop()
    installed = []
    for signum in _STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, runner.interrupt)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals here
    try:
        return await runner.run()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


@test.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False), metavar="SHARD.json...")
@_report_options
def merge(shards: tuple[Path, ...], junit_path: Path | None, report_path: Path | None, json_path: Path | None) -> None:
    """Join the --json results of shards into one suite; exit 0 when every scenario meets its pass rate, else 1."""
    _check_reports(junit_path, report_path, json_path)
    merge_files = _load("flow.scenarios.merge", "merge_files", "voxflow test merge")
    suite = merge_files(list(shards))
    verdicts = {(scenario.file, scenario.name): scenario.passed for scenario in suite.scenarios}
    _finish(suite, verdicts, junit_path, report_path, json_path)
    sys.exit(0 if all(verdicts.values()) and suite.scenarios else 1)


def _load(module: str, name: str, what: str) -> Any:
    if importlib.util.find_spec(module) is None:
        raise VoxflowError(f"{what} needs {module}, which this installation of voxflow lacks",
                           hint="Update voxflow; the reports and merge ship with voxflow test.")
    return getattr(importlib.import_module(module), name)


def _check_reports(junit_path: Path | None, report_path: Path | None, json_path: Path | None) -> None:
    """A report that cannot be written is an argument error (exit 2) before any conversation runs."""
    for option, path in (("--junit", junit_path), ("--report", report_path), ("--json", json_path)):
        if path is None:
            continue
        if option in REPORTS:
            module, name = REPORTS[option]
            _load(module, name, option)
        existed = path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8"):  # opened as it will be written; nothing written yet
                pass
        except OSError as error:
            why = "a part of its folder is a file" if isinstance(error, FileExistsError) else error.strerror or error
            click.echo(f"voxflow test: {option} {path}: cannot write it ({why})", err=True)
            click.echo("Give a path in a folder you can write to.", err=True)
            sys.exit(2)
        if not existed:
            path.unlink(missing_ok=True)


def _finish(suite: Any, verdicts: dict[tuple[str, str], bool], junit_path: Path | None, report_path: Path | None,
            json_path: Path | None) -> None:
    import json

    from flow.scenarios.summary import summary_lines

    for line in summary_lines(suite, verdicts):
        click.echo(line)
    outputs: list[tuple[Path, Callable[[Any], str]]] = []
    if json_path is not None:
        outputs.append((json_path, lambda data: json.dumps(data.to_json(), indent=2, ensure_ascii=False) + "\n"))
    for option, path in (("--junit", junit_path), ("--report", report_path)):
        if path is not None:
            module, name = REPORTS[option]
            outputs.append((path, _load(module, name, option)))
    for path, render in outputs:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(suite), encoding="utf-8")
        except OSError as error:
            raise VoxflowError(f"cannot write {path}: {error.strerror}", hint="Give a writable path.") from None
        click.echo(f"wrote {path}", err=True)
