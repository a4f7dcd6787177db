"""``voxflow test merge``: join the ``--json`` files of CI shards into the suite one unsharded run would give.

Each shard ran a slice of the same selection. Runs of one scenario (same file and name) are
joined and put in run order; scenarios come in the selection's order when the shards wrote it
(``extra["scenarios"]``: ``[file, name]`` pairs of the whole selection, the same in every
shard), else in the order they first appear. What cannot be one run is refused with one line:
a file that is not ``voxflow test --json`` output, another schema version, shards of different
selections, providers or transports, one run in two files, or a shard missing or given twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audio.base.errors import VoxflowError
from flow.scenarios.results import SCHEMA_VERSION, Run, Scenario, Suite

ORDER_KEY = "scenarios"  # Suite.extra: the whole selection's [file, name] pairs, in order
HINT = "Pass the files that `voxflow test --json OUT.json` wrote (one per shard)."


def merge_files(paths: Sequence[Path]) -> Suite:
    """Read each shard's ``--json`` file and merge them (see :func:`merge`)."""
    if not paths:
        raise VoxflowError("voxflow test merge: no file given", hint=HINT)
    return merge([read_suite(Path(path)) for path in paths], [str(path) for path in paths])


def read_suite(path: Path) -> Suite:
    """One ``--json`` file as a :class:`Suite`; anything else is a one-line :class:`VoxflowError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise VoxflowError(f"{path}: cannot read it ({error.strerror or error})", hint=HINT) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise VoxflowError(f"{path}: not voxflow test JSON (not a JSON file)", hint=HINT) from None
    if not isinstance(data, dict) or "schema" not in data or not isinstance(data.get("scenarios"), list):
        raise VoxflowError(f"{path}: not voxflow test JSON (no 'schema' and 'scenarios')", hint=HINT)
    if data["schema"] != SCHEMA_VERSION:
        raise VoxflowError(f"{path}: voxflow test JSON schema {data['schema']!r}, this voxflow reads schema "
                           f"{SCHEMA_VERSION}", hint="Merge files written by the same voxflow version.")
    try:
        return Suite.from_json(data)
    except (TypeError, KeyError, AttributeError, ValueError) as error:
        raise VoxflowError(f"{path}: voxflow test JSON that does not fit schema {SCHEMA_VERSION} ({error})",
                           hint=HINT) from None


def merge(suites: Sequence[Suite], names: Sequence[str] | None = None) -> Suite:
    """The shards as one suite; ``names`` (the files, for errors) default to ``shard 1``, ``shard 2``..."""
    if not suites:
        raise VoxflowError("voxflow test merge: nothing to merge", hint=HINT)
    names = list(names) if names is not None else [f"shard {index}" for index in range(1, len(suites) + 1)]
    first = suites[0]
    for suite, name in zip(suites[1:], names[1:], strict=True):
        for field in ("provider", "transport"):
            if getattr(suite, field) != getattr(first, field):
                raise VoxflowError(f"{name}: ran with {field} {getattr(suite, field)}, {names[0]} with "
                                   f"{getattr(first, field)}: these are not shards of one run", hint=HINT)
    _check_shards(suites, names)
    order = _selection_order(suites, names)

    scenarios: dict[tuple[str, str], Scenario] = {}
    seen: dict[tuple[str, str, int], str] = {}
    for suite, name in zip(suites, names, strict=True):
        for scenario in suite.scenarios:
            key = (scenario.file, scenario.name)
            for run in scenario.runs:
                where = seen.setdefault((scenario.file, scenario.name, run.run), name)
                if where != name:
                    raise VoxflowError(f"{name}: run {run.run} of {scenario.name!r} ({scenario.file}) is also in "
                                       f"{where}", hint="Give each shard's file once.")
            joined = scenarios.get(key)
            if joined is None:
                scenarios[key] = scenario
                continue
            if joined.pass_rate != scenario.pass_rate:
                raise VoxflowError(f"{name}: {scenario.name!r} ({scenario.file}) has pass_rate {scenario.pass_rate:g}, "
                                   f"another shard {joined.pass_rate:g}: the scenario file changed between shards",
                                   hint="Run every shard on the same commit.")
            scenarios[key] = Scenario(joined.name, joined.file, joined.pass_rate, joined.runs + scenario.runs)

    keys = list(scenarios)
    if order is not None:
        position = {key: index for index, key in enumerate(order)}
        unknown = [key for key in keys if key not in position]
        if unknown:
            raise VoxflowError(f"{unknown[0][1]!r} ({unknown[0][0]}) is not in the shards' selection", hint=HINT)
        keys.sort(key=position.__getitem__)
    merged = tuple(Scenario(s.name, s.file, s.pass_rate, tuple(sorted(s.runs, key=_run_order)))
                   for s in (scenarios[key] for key in keys))
    extra: dict[str, Any] = {}
    for suite in suites:
        extra.update({key: value for key, value in suite.extra.items() if key not in extra})
    return Suite(
        scenarios=merged,
        provider=first.provider,
        transport=first.transport,
        jobs=max(suite.jobs for suite in suites),
        shard=None,
        started_at=min((suite.started_at for suite in suites if suite.started_at), default=""),
        duration_s=max(suite.duration_s for suite in suites),  # shards run side by side
        extra=extra,
    )


def _run_order(run: Run) -> int:
    return run.run


def _check_shards(suites: Sequence[Suite], names: Sequence[str]) -> None:
    """Shards labelled ``K/N`` must be 1..N of one N, each once."""
    labelled = [(suite.shard, name) for suite, name in zip(suites, names, strict=True) if suite.shard]
    if not labelled:
        return
    parsed: dict[int, str] = {}
    totals = set()
    for label, name in labelled:
        try:
            k_text, n_text = str(label).split("/")
            k, n = int(k_text), int(n_text)
        except ValueError:
            raise VoxflowError(f"{name}: shard {label!r} is not K/N", hint=HINT) from None
        totals.add(n)
        if k in parsed:
            raise VoxflowError(f"{name}: shard {k}/{n} is also {parsed[k]}", hint="Give each shard's file once.")
        parsed[k] = name
    if len(totals) > 1:
        raise VoxflowError(f"the shards split the run differently ({', '.join(f'/{n}' for n in sorted(totals))})",
                           hint="Merge the shards of one run: the same --shard K/N total in each.")
    total = totals.pop()
    missing = [k for k in range(1, total + 1) if k not in parsed]
    if missing or len(labelled) != len(suites):
        what = f"shard {missing[0]}/{total} is missing" if missing else "a file without a shard is mixed with shards"
        raise VoxflowError(f"voxflow test merge: {what}", hint=f"Pass all {total} shards' --json files.")


def _selection_order(suites: Sequence[Suite], names: Sequence[str]) -> list[tuple[str, str]] | None:
    """The whole selection's order, when every shard wrote the same one."""
    orders = [suite.extra.get(ORDER_KEY) for suite in suites]
    if all(order is None for order in orders):
        return None
    parsed = []
    for order, name in zip(orders, names, strict=True):
        if not isinstance(order, list) or not all(isinstance(pair, list | tuple) and len(pair) == 2 for pair in order):
            raise VoxflowError(f"{name}: extra.{ORDER_KEY} is not a list of [file, name] pairs", hint=HINT)
        parsed.append([(str(file), str(scenario)) for file, scenario in order])
    for order, name in zip(parsed[1:], names[1:], strict=True):
        if order != parsed[0]:
            raise VoxflowError(f"{name}: a different selection of scenarios than {names[0]}",
                               hint="Merge the shards of one run (the same scenario files and options).")
    return parsed[0]
