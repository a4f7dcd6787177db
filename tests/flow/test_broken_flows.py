"""The corpus of broken flows: each file names the line and message it must produce.

A file's ``# expect: LINE: TEXT`` comments list every error expected; all must
appear (position and text), and no error may go unexpected.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flow.errors import FlowError
from flow.loader import load_flow

BROKEN = Path(__file__).parent / "broken"
EXPECT = re.compile(r"^# expect: (\d+): (.+)$", re.MULTILINE)


def _cases() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(_cases()) >= 20


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_broken_flow_reports_line_and_message(path: Path) -> None:
    expected = [(int(line), text) for line, text in EXPECT.findall(path.read_text())]
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(FlowError) as raised:
        load_flow(path)
    issues = raised.value.issues
    for line, text in expected:
        matching = [issue for issue in issues if issue.line == line and text in issue.message]
        assert matching, f"expected line {line}: {text!r}; got:\n{raised.value}"
    assert len(issues) == len(expected), f"unexpected extra errors:\n{raised.value}"
    for issue in issues:
        assert str(issue).startswith(f"{path}:{issue.line}:{issue.column}: ")
