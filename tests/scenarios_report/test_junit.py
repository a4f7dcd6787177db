"""JUnit XML: one test case per run, read back the way CI systems read it.

Two readers: ``junitparser`` (the library CI tooling uses to merge and inspect JUnit files) must
see every run with the right outcome, and the shape Jenkins validates against (its
``junit-10.xsd``, restated below: the schema file itself is not vendored) is checked element by
element: the attributes each element must have, the children each may have, numeric times.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from junitparser import Error, Failure, JUnitXml, Skipped

from flow.scenarios.junit import junit_xml
from flow.scenarios.results import Check, Run, Scenario, Suite, Turn
from tests.scenarios_report.suites import SCRIPT_TEXT, passing_suite, suite

# junit-10.xsd, restated: required attributes, and the children an element may hold
REQUIRED = {"testsuite": {"name", "tests", "failures", "errors"}, "testcase": {"name"}, "property": {"name", "value"}}
ALLOWED_ATTRIBUTES = {
    "testsuites": {"name", "time", "tests", "failures", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id",
                  "package", "file", "log", "url"},
    "testcase": {"name", "time", "classname", "group"},
    "failure": {"type", "message"}, "error": {"type", "message"}, "skipped": {"type", "message"},
    "properties": set(), "property": {"name", "value"}, "system-out": set(), "system-err": set(),
}
CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
    "properties": {"property"},
    "failure": set(), "error": set(), "skipped": set(), "property": set(), "system-out": set(), "system-err": set(),
}
SUREFIRE_TIME = re.compile(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")


def assert_schema_shape(element: ET.Element) -> None:
    tag = element.tag
    assert tag in CHILDREN, f"unknown element <{tag}>"
    assert REQUIRED.get(tag, set()) <= set(element.attrib), f"<{tag}> lacks {REQUIRED[tag] - set(element.attrib)}"
    assert set(element.attrib) <= ALLOWED_ATTRIBUTES[tag], f"<{tag}> has {set(element.attrib) - ALLOWED_ATTRIBUTES[tag]}"
    if tag in ("testsuite", "testsuites") and "time" in element.attrib:
        assert SUREFIRE_TIME.match(element.attrib["time"]), element.attrib["time"]
    for child in element:
        assert child.tag in CHILDREN[tag], f"<{child.tag}> inside <{tag}>"
        assert_schema_shape(child)


def test_the_document_has_the_junit_shape_ci_servers_validate() -> None:
    root = ET.fromstring(junit_xml(suite()))
    assert root.tag == "testsuites"
    assert_schema_shape(root)
    for case in root.iter("testcase"):
        float(case.attrib["time"])


def test_one_test_case_per_run_named_after_its_scenario_and_run() -> None:
    root = ET.fromstring(junit_xml(suite()))
    names = [(case.attrib["classname"], case.attrib["name"]) for case in root.iter("testcase")]
    assert names == [("weather.yaml", f"weather in Paris [run {n}]") for n in range(1, 6)] + [
        ("barge.yaml", "barge in [run 1]"), ("barge.yaml", "barge in [run 2]"), ("weather.yaml", "goodbye [run 1]")]
    times = [case.attrib["time"] for case in root.iter("testcase")]
    assert times[:3] == ["7.100", "7.200", "7.300"] and times[-1] == "2.100"
    assert root.attrib["time"] == "42.000"


def test_junitparser_reads_each_outcome() -> None:
    results = {case.name: case.result for suite_ in JUnitXml.fromstring(junit_xml(suite())) for case in suite_}
    assert len(results) == 8
    assert all(results[f"weather in Paris [run {n}]"] == [] for n in range(1, 5))
    (tolerated,) = results["weather in Paris [run 5]"]
    assert isinstance(tolerated, Skipped)
    assert tolerated.message.startswith("failed, tolerated: 4/5 runs passed, pass_rate 0.8: weather in Paris run 5 turn 1")
    assert results["barge in [run 1]"] == []
    (failure,) = results["barge in [run 2]"]
    assert isinstance(failure, Failure) and failure.type == "reply"
    assert failure.message == "barge in run 2 turn 1: reply expected (?i)book, got I cannot help with that at 1.90s"
    (error,) = results["goodbye [run 1]"]
    assert isinstance(error, Error) and error.message == "goodbye run 1: the session died: connection lost at 2.1s"


def test_counts_agree_with_the_cases() -> None:
    root = ET.fromstring(junit_xml(suite()))
    for element in root.iter("testsuite"):
        cases = element.findall("testcase")
        assert int(element.attrib["tests"]) == len(cases)
        for outcome, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(element.attrib[attribute]) == sum(case.find(outcome) is not None for case in cases)
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["errors"]) == ("8", "1", "1")


def test_failure_details_name_every_failed_check_and_the_recording() -> None:
    two_failed = Run("s", "s.yaml", 1, 7, recording="runs/s-1.wav", turns=(
        Turn(1, "hi", checks=(_check("reply", False, at=1.5), _check("within", True))),
        Turn(2, "bye", checks=(_check("within", False, at=9.25), _judge(False)))))
    root = ET.fromstring(junit_xml(Suite((Scenario("s", "s.yaml", 1.0, (two_failed,)),))))
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and failure.attrib["type"] == "reply"
    assert failure.text is not None
    assert failure.text.splitlines() == [
        "turn 1: reply expected E-reply, got A-reply at 1.50s",
        "turn 2: within expected E-within, got A-within at 9.25s",
        "recording: runs/s-1.wav",
    ]


def test_system_out_holds_the_transcript_and_the_judge_apart() -> None:
    root = ET.fromstring(junit_xml(suite()))
    cases = {case.attrib["name"]: case for case in root.iter("testcase")}
    out = cases["barge in [run 2]"].findtext("system-out") or ""
    assert f"User: {SCRIPT_TEXT}" in out  # escaped on the way in, the same text on the way out
    assert "Assistant: I cannot help with that [interrupted]" in out
    assert "turn 1: judge FAIL on 'the assistant confirms the booking': it refused instead of booking" in out
    weather = cases["weather in Paris [run 1]"].findtext("system-out") or ""
    assert 'Tool: get_weather (stubbed) {"city": "Paris"} -> {"forecast": "sunny"}' in weather
    assert "seed 1001" in weather
    # a judge's FAIL never makes a failure by itself: barge in run 1's judge passed, weather's judges passed
    passing = passing_suite()
    judged_fail = Suite((Scenario("j", "j.yaml", 1.0, (Run("j", "j.yaml", 1, 1, turns=(Turn(1, "x", checks=(_judge(False),)),)),)),))
    assert ET.fromstring(junit_xml(judged_fail)).find(".//failure") is None
    assert ET.fromstring(junit_xml(passing)).attrib["failures"] == "0"


def test_text_xml_cannot_hold_is_replaced_not_dropped() -> None:
    run = Run("ctl", "c.yaml", 1, 1, transcript=({"role": "user", "text": "bell\x07 esc\x1b[0m nul\x00 ok", "start": 0.0},))
    document = junit_xml(Suite((Scenario("ctl\x01", "c.yaml", 1.0, (run,)),)))
    root = ET.fromstring(document)  # would raise on a raw control character
    out = root.findtext(".//system-out") or ""
    assert "User: bell\ufffd esc\ufffd[0m nul\ufffd ok" in out
    assert root.find("testsuite").attrib["name"] == "ctl\ufffd"  # type: ignore[union-attr]


def _check(kind: str, passed: bool, at: float | None = None) -> Check:
    return Check(kind, passed, f"E-{kind}", f"A-{kind}", at)


def _judge(passed: bool) -> Check:
    return Check("judge", passed, "crit", "PASS" if passed else "FAIL", deterministic=False, reason="why")
