"""The config file: a machine's defaults for ``voxflow run``, and where each effective setting came from.

``$XDG_CONFIG_HOME/voxflow/config.toml`` (``~/.config/voxflow/config.toml``),
or the file ``--config FILE`` names, holds flat ``key = value`` lines (see
:data:`KEYS`). Precedence, highest first: a command-line flag; the flow's own
node setting; the config file; the built-in default. Secrets never go in it:
the OpenAI key stays in ``OPENAI_API_KEY`` or in a file named by
``api_key_file``, which must not be readable by every user.

Every problem of a file is reported at once as ``FILE:LINE: what; did you
mean ...`` (a :class:`~audio.base.errors.VoxflowError`); ``voxflow config
show`` prints the effective settings of a run with their sources, computed
by :func:`resolve`, the same precedence the run uses.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio.base.errors import VoxflowError
from flow.model import Flow
from flow.validate import did_you_mean

CONFIG_NAME = Path("voxflow") / "config.toml"
MAX_BYTES = 64 * 1024
SECRET_KEYS = ("api_key", "openai_api_key", "key", "share_token", "secret", "token")


@dataclass(frozen=True)
class Key:
    """One setting the config file may hold."""

    name: str
    check: Callable[[Any], str | None]  # None when valid, else what is wrong
    flag: str | None = None
    node: tuple[str, str] | None = None  # (node type, setting) that ranks above the file
    default: Any = None
    help: str = ""


def _choice(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in choices)}" + (did_you_mean(value, list(choices)) if isinstance(value, str) else "")
    return check


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _device(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        return "must be a device index (3) or part of its name (\"USB\")"
    return None


def _address(value: Any) -> str | None:
    from audio.metrics.address import parse_address

    if not isinstance(value, str):
        return "must be a string such as \"127.0.0.1:9464\""
    try:
        parse_address(value)
    except VoxflowError as error:
        return error.message
    return None


def _seconds(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "must be seconds (30) or a duration (\"45s\", \"2m\")"
    try:
        seconds = duration_seconds(value)
    except ValueError as error:
        return str(error)
    return None if seconds > 0 else "must be positive"


def _path(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a file path"


KEYS: tuple[Key, ...] = (
    Key("provider", _choice("openai", "local"), "--provider", ("realtime-conversation", "provider"), None,
        "Realtime service: openai or local (default: openai with a key, else local)"),
    Key("transport", _choice("webrtc", "websocket", "auto"), "--transport", ("realtime-conversation", "transport"), "webrtc",
        "webrtc, websocket or auto"),
    Key("input_device", _device, "--input-device", ("audio-input", "device"), None, "microphone: index or part of its name"),
    Key("output_device", _device, "--output-device", ("audio-output", "device"), None, "speaker: index or part of its name"),
    Key("renew", _bool, "--renew", ("realtime-conversation", "renew"), False, "always on: renew before the cap, reconnect after drops"),
    Key("reconnect", _bool, "--no-reconnect", ("realtime-conversation", "reconnect"), True, "reconnect a dropped session"),
    Key("metrics", _address, "--metrics", None, None, "HOST:PORT for /metrics, /healthz, /livez (off by default)"),
    Key("reconnect_budget", _seconds, "--reconnect-budget", None, 30.0, "seconds of reconnecting before /healthz fails"),
    Key("log_format", _choice("text", "json"), "--log-format", None, "text", "text or json (one JSON object per line)"),
    Key("history", _bool, "--no-history", None, True, "the app keeps a session history"),
    Key("api_key_file", _path, None, None, None, "a file holding the OpenAI key (not world-readable); OPENAI_API_KEY wins"),
)
BY_NAME = {key.name: key for key in KEYS}


def duration_seconds(value: Any) -> float:
    """``30``, ``2.5``, ``"45s"``, ``"2m"``, ``"1h"`` as seconds; ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: use seconds (30) or \"45s\", \"2m\", \"1h\"")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


@dataclass(frozen=True)
class Entry:
    value: Any
    line: int


@dataclass
class RunConfig:
    """A loaded config file (``path`` None: there is none) and its values with their lines."""

    path: Path | None = None
    entries: dict[str, Entry] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        entry = self.entries.get(name)
        return None if entry is None else entry.value

    def where(self, name: str) -> str:
        return f"{self.path}:{self.entries[name].line}"


def default_path(env: Mapping[str, str] | None = None) -> Path:
    env = env if env is not None else os.environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path(env.get("HOME") or Path.home()) / ".config"
    return root / CONFIG_NAME


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> RunConfig:
    """The config ``path`` names (it must exist) or the default one (absent: no config); errors at FILE:LINE."""
    explicit = path is not None
    path = path if path is not None else default_path(env)
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except FileNotFoundError:
        if explicit:
            raise VoxflowError(f"--config {path}: no such file", hint="Create it, or leave --config out to use "
                               f"{default_path(env)}.") from None
        return RunConfig()
    except OSError as error:
        raise VoxflowError(f"{path}: cannot read the config file ({error.strerror or error})") from None
    if len(raw) > MAX_BYTES:
        raise VoxflowError(f"{path}: the config file is larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise VoxflowError(f"{path}: the config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        at = re.search(r"line (\d+)", str(error))
        raise VoxflowError(f"{path}:{at.group(1) if at else 1}: not valid TOML ({str(error).split(' (at')[0]})",
                           hint="Write one setting per line: key = value (strings in quotes).") from None
    lines = _key_lines(text)
    errors: list[str] = []
    entries: dict[str, Entry] = {}
    for name, value in data.items():
        line = lines.get(name, 1)
        where = f"{path}:{line}"
        if name.lower() in SECRET_KEYS or name.lower().endswith(("_key", "_token", "_secret")) and name != "api_key_file":
            errors.append(f"{where}: '{name}': secrets do not go in the config file; put the key in a file named by "
                          "api_key_file (chmod 600) or in the environment (OPENAI_API_KEY, VOXFLOW_SHARE_TOKEN)")
            continue
        key = BY_NAME.get(name)
        if key is None:
            kind = "table" if isinstance(value, dict) else "key"
            suggestion = did_you_mean(name, list(BY_NAME)) or f" (keys: {', '.join(BY_NAME)})"
            errors.append(f"{where}: unknown {kind} '{name}'{suggestion}")
            continue
        problem = key.check(value)
        if problem is not None:
            errors.append(f"{where}: {name} {problem}")
            continue
        entries[name] = Entry(value, line)
    if errors:
        raise VoxflowError("\n".join(errors))
    return RunConfig(path, entries)


def _key_lines(text: str) -> dict[str, int]:
    """The line each top-level key (or table) is written on (TOML keeps no positions)."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"\s*(?:\[+\s*([A-Za-z0-9_\-]+)|([A-Za-z0-9_\-]+|\"[^\"]*\")\s*[=.])", line)
        if match:
            name = (match.group(1) or match.group(2)).strip('"')
            lines.setdefault(name, number)
    return lines


def read_api_key_file(path: Path, where: str) -> str:
    """The key in ``path``; refused (one line) when every user may read it, or it is missing or empty."""
    try:
        mode = path.stat().st_mode
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise VoxflowError(f"{where}: api_key_file {path}: cannot read it ({error.strerror or error})") from None
    if mode & stat.S_IROTH:
        raise VoxflowError(f"api_key_file {path} is readable by every user: run chmod 600 {path}")
    if not key:
        raise VoxflowError(f"{where}: api_key_file {path} is empty: put the OpenAI key in it")
    return key


# ---------------------------------------------------------------------------------------------- precedence
@dataclass(frozen=True)
class Effective:
    name: str
    value: Any
    source: str


def node_value(flow: Flow | None, node_type: str, setting: str) -> tuple[Any, str] | None:
    """The first node of ``node_type`` that sets ``setting`` itself: its value and id."""
    if flow is None:
        return None
    for spec in flow.nodes:
        if spec.type == node_type and setting in spec.settings.model_fields_set:
            value = getattr(spec.settings, setting)
            if value is not None:
                return value, spec.id
    return None


def resolve(config: RunConfig, flags: Mapping[str, Any], flow: Flow | None = None,
            env: Mapping[str, str] | None = None) -> dict[str, Effective]:
    """Each setting's effective value and its source: flag, then node, then config file, then default.

    ``flags`` maps a key name to the flag's value, or None when the flag was not given.
    """
    env = env if env is not None else os.environ
    result: dict[str, Effective] = {}
    flow_name = str(flow.path) if flow is not None and flow.path is not None else "the flow"
    for key in KEYS:
        if key.name == "api_key_file":
            continue
        given = flags.get(key.name)
        if given is not None and key.flag is not None:
            result[key.name] = Effective(key.name, given, key.flag)
            continue
        from_node = node_value(flow, *key.node) if key.node is not None else None
        if from_node is not None:
            result[key.name] = Effective(key.name, from_node[0], f"{flow_name}, node {from_node[1]}")
        elif key.name in config.entries:
            result[key.name] = Effective(key.name, config.get(key.name), config.where(key.name))
        else:
            result[key.name] = Effective(key.name, key.default, "default")
    if env.get("OPENAI_API_KEY"):
        result["api_key"] = Effective("api_key", "(set)", "environment OPENAI_API_KEY")
    elif "api_key_file" in config.entries:
        result["api_key"] = Effective("api_key", f"(from {config.get('api_key_file')})", config.where("api_key_file"))
    else:
        result["api_key"] = Effective("api_key", "(none)", "default")
    return result


def api_key(config: RunConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The OpenAI key: ``OPENAI_API_KEY`` wins; else the file ``api_key_file`` names (checked); else None."""
    env = env if env is not None else os.environ
    if env.get("OPENAI_API_KEY"):
        return env["OPENAI_API_KEY"]
    if "api_key_file" not in config.entries:
        return None
    assert config.path is not None
    path = Path(os.path.expanduser(str(config.get("api_key_file"))))
    if not path.is_absolute():
        path = config.path.parent / path
    return read_api_key_file(path, config.where("api_key_file"))
