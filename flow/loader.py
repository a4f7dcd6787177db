"""Loads flow files: size-capped, safe YAML, every problem reported with its position."""

from __future__ import annotations

from pathlib import Path

from flow.errors import FlowError, FlowIssue
from flow.model import Flow
from flow.validate import validate_document
from flow.yaml_source import YamlSyntaxError, parse

MAX_FLOW_BYTES = 1024 * 1024


def load_flow(path: str | Path) -> Flow:
    """Read, parse and validate ``path``; raise FlowError listing every problem."""
    file = Path(path)
    name = str(path)
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        raise FlowError([FlowIssue(name, 1, 1, "no such file: check the path (flows live under ./flows)")]) from None
    except OSError as exc:
        raise FlowError([FlowIssue(name, 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    if file.is_dir():
        raise FlowError([FlowIssue(name, 1, 1, "is a directory; give a .yaml flow file")])
    if size > MAX_FLOW_BYTES:
        raise FlowError([FlowIssue(name, 1, 1, f"file is {size / 1024 / 1024:.1f} MiB; flows are limited to 1 MiB")])
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise FlowError([FlowIssue(name, 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FlowError([FlowIssue(name, line, 1, "the file is not UTF-8 text; save it as UTF-8")]) from None
    return load_flow_text(text, name, path=file)


def load_flow_text(text: str, filename: str = "<flow>", *, path: Path | None = None) -> Flow:
    """Parse and validate flow YAML given as text."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FLOW_BYTES:
        raise FlowError([FlowIssue(filename, 1, 1, "flow text is over 1 MiB; flows are limited to 1 MiB")])
    try:
        data, source = parse(text)
    except YamlSyntaxError as exc:
        raise FlowError([FlowIssue(filename, exc.position.line, exc.position.column, exc.message)]) from None
    return validate_document(data, source, filename, path)
