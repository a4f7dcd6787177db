"""Flow errors that point at the file: every problem carries FILE:LINE:COL.

A flow file is checked completely before anything runs, and all of its
problems are reported together, so a user fixes them in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio.base.errors import VoxflowError


@dataclass(frozen=True)
class FlowIssue:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class FlowError(VoxflowError):
    """One or more problems in a flow file; ``str()`` lists them all, one per line."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        if not issues:
            raise ValueError("FlowError needs at least one issue")
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column))
        super().__init__("\n".join(str(issue) for issue in self.issues))
