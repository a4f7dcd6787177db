"""Recently opened flows, so the picker can offer them first.

Stored as a small JSON list in the user's state directory (``VOXFLOW_STATE_DIR``
overrides it, which tests use). A broken or unreadable file is treated as empty:
recent flows are a convenience, never a reason to fail.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from platformdirs import user_state_dir

log = logging.getLogger(__name__)

MAX_RECENT = 10


def default_recent_file() -> Path:
    base = os.environ.get("VOXFLOW_STATE_DIR")
    directory = Path(base) if base else Path(user_state_dir("voxflow"))
    return directory / "recent-flows.json"


class RecentFlows:
    """Most recent first, at most :data:`MAX_RECENT`, absolute paths."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file if file is not None else default_recent_file()

    def load(self) -> list[Path]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [Path(item) for item in data if isinstance(item, str)][:MAX_RECENT]

    def existing(self) -> list[Path]:
        return [path for path in self.load() if path.is_file()]

    def add(self, path: Path) -> None:
        resolved = path.resolve()
        paths = [resolved] + [p for p in self.load() if p != resolved]
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.file.write_text(json.dumps([str(p) for p in paths[:MAX_RECENT]], indent=1), encoding="utf-8")
        except OSError as exc:
            log.warning("could not remember recent flow: %s", exc.strerror)
