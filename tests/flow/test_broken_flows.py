"""The corpus of broken flows: each file names the line and message it must produce.

A file's ``# expect: LINE:COL: TEXT`` comments list every error expected; each
must appear at exactly that line and column with that text, and no error may go
unexpected.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flow.errors import FlowError
from flow.loader import load_flow

BROKEN = Path(__file__).parent / "broken"
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)
ANY_EXPECT = re.compile(r"^# expect:", re.MULTILINE)


def _cases() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(_cases()) >= 20


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_broken_flow_reports_line_and_message(path: Path) -> None:
    source = path.read_text()
    expected = [(int(line), int(column), text) for line, column, text in EXPECT.findall(source)]
    assert expected, f"{path.name} has no '# expect: LINE:COL: TEXT' line"
    assert len(expected) == len(ANY_EXPECT.findall(source)), f"{path.name}: every expectation names LINE:COL"
    with pytest.raises(FlowError) as raised:
        load_flow(path)
    issues = raised.value.issues
    for line, column, text in expected:
        matching = [issue for issue in issues if (issue.line, issue.column) == (line, column) and text in issue.message]
        assert matching, f"expected {line}:{column}: {text!r}; got:\n{raised.value}"
        assert any(str(issue).startswith(f"{path}:{line}:{column}: ") for issue in matching)
    assert len(issues) == len(expected), f"unexpected extra errors:\n{raised.value}"
