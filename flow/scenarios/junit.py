"""``voxflow test --junit``: the suite as JUnit XML, the format every CI system renders.

One ``<testsuite>`` per scenario (its pass rate, Wilson interval and verdict as properties),
one ``<testcase>`` per run: ``classname`` is the scenario file, ``name`` is ``scenario [run N]``.
A run that failed is a ``<failure>`` (an assertion did not hold) or an ``<error>`` (the run
itself broke: the session died, a turn was lost), whose ``message`` is the run's first failure
and whose body lists every failed check. When the scenario still met its ``pass_rate``, its
failed runs are ``<skipped>`` with the same details instead: CI then counts a failure exactly
when ``voxflow test`` exits 1, and the run's evidence is still in the file. The judge's checks
are graded by a model and never decide a run, so they go to ``<system-out>`` beside the
transcript. Elements, attributes and their order follow the JUnit schema Jenkins validates
against (``junit-10.xsd``); other CI readers take a subset of it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from flow.scenarios.results import Check, Run, Scenario, Suite, Turn
from flow.scenarios.run_transcript import transcript_text

# characters XML 1.0 cannot hold at all (not even escaped): control characters, lone surrogates
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(suite: Suite) -> str:
    """The whole suite as one JUnit XML document (UTF-8, with its declaration)."""
    root = ET.Element("testsuites", name="voxflow test")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for scenario in suite.scenarios:
        element, counts = _testsuite(scenario, suite)
        root.append(element)
        for key in totals:
            totals[key] += counts[key]
    root.set("time", _seconds(suite.duration_s or sum(run.duration_s for s in suite.scenarios for run in s.runs)))
    for key in ("tests", "failures", "errors"):  # the schema's <testsuites> has no ``skipped``
        root.set(key, str(totals[key]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testsuite(scenario: Scenario, suite: Suite) -> tuple[ET.Element, dict[str, int]]:
    element = ET.Element("testsuite", name=_clean(scenario.name))
    properties = ET.SubElement(element, "properties")
    low, high = scenario.interval
    for name, value in (
        ("file", scenario.file),
        ("runs", str(len(scenario.runs))),
        ("passes", str(scenario.passes)),
        ("rate", f"{scenario.rate:.3f}"),
        ("pass_rate", f"{scenario.pass_rate:g}"),
        ("wilson_95_low", f"{low:.3f}"),
        ("wilson_95_high", f"{high:.3f}"),
        ("verdict", "passed" if scenario.passed else "failed"),
        ("provider", suite.provider),
        ("transport", suite.transport),
    ):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    counts = {"tests": len(scenario.runs), "failures": 0, "errors": 0, "skipped": 0}
    for run in scenario.runs:
        case = _testcase(run, scenario)
        for outcome, counter in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if case.find(outcome) is not None:
                counts[counter] += 1
        element.append(case)
    for key, count in counts.items():
        element.set(key, str(count))
    element.set("time", _seconds(sum(run.duration_s for run in scenario.runs)))
    if suite.started_at:
        element.set("timestamp", _clean(suite.started_at))
    element.set("file", _clean(scenario.file))
    return element, counts


def _testcase(run: Run, scenario: Scenario) -> ET.Element:
    case = ET.Element("testcase", classname=_clean(scenario.file), name=_clean(f"{scenario.name} [run {run.run}]"),
                      time=_seconds(run.duration_s))
    first = run.first_failure
    if first is not None:
        details = _failure_details(run)
        if scenario.passed:
            outcome = ET.SubElement(case, "skipped", message=_clean(
                f"failed, tolerated: {scenario.passes}/{len(scenario.runs)} runs passed, pass_rate "
                f"{scenario.pass_rate:g}: {first}"))
        elif run.error is not None:
            outcome = ET.SubElement(case, "error", message=_clean(first), type="run error")
        else:
            outcome = ET.SubElement(case, "failure", message=_clean(first), type=_first_failed_kind(run))
        outcome.text = _clean(details)
    out = ET.SubElement(case, "system-out")
    out.text = _clean(_system_out(run))
    return case


def _failed_checks(run: Run) -> list[tuple[Turn, Check]]:
    return [(turn, check) for turn in run.turns for check in turn.checks if check.deterministic and not check.passed]


def _first_failed_kind(run: Run) -> str:
    failed = _failed_checks(run)
    return failed[0][1].kind if failed else "failure"


def check_line(turn: Turn, check: Check) -> str:
    """``turn 2: within expected <= 2.5s, got 3.10s at 12.34s`` (plus the reason, when there is one).

    A judge's check reads ``turn 1: judge FAIL on 'criterion': reason``.
    """
    if not check.deterministic:
        reason = f": {check.reason}" if check.reason else ""
        return f"turn {turn.index}: judge {check.actual} on {check.expected!r}{reason}"
    at = f" at {check.at_s:.2f}s" if check.at_s is not None else ""
    reason = f" ({check.reason})" if check.reason else ""
    return f"turn {turn.index}: {check.kind} expected {check.expected}, got {check.actual}{at}{reason}"


def _failure_details(run: Run) -> str:
    lines = [f"run error: {run.error}"] if run.error is not None else []
    lines += [check_line(turn, check) for turn, check in _failed_checks(run)]
    if run.recording:
        lines.append(f"recording: {run.recording}")
    return "\n".join(lines)


def _system_out(run: Run) -> str:
    parts = [f"seed {run.seed}"]
    if run.recording:
        parts.append(f"recording: {run.recording}")
    judged = [check_line(turn, check) for turn in run.turns for check in turn.checks if not check.deterministic]
    if judged:
        parts.append("judge (graded by a model, reported apart):\n" + "\n".join(judged))
    text = transcript_text(run)
    if text:
        parts.append("transcript:\n" + text)
    return "\n".join(parts)


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def _clean(text: str) -> str:
    """``text`` with what XML cannot carry replaced by U+FFFD (escaping is ElementTree's job)."""
    return _NOT_XML.sub("\ufffd", text)
