"""Synthesised speech kept on disk, by what it says and how, so the same sentence is fetched once.

A scenario runs the same caller lines over and over, in parallel (``voxflow
test -j 4``) and across days; a speech service bills and waits for each.
Entries are keyed by the sha256 of (service, model, voice, text, format): the
local server answers the same route with eSpeak, and its audio must never
pass for the real voice's. They live under
the user's cache directory (``$VOXFLOW_CACHE_DIR``, else
``$XDG_CACHE_HOME/voxflow/speech``, else ``~/.cache/voxflow/speech``).

Each file is a small header (magic, payload length, payload sha256) and the
payload. It is written to a temporary file in the same folder and renamed
into place, so a parallel reader sees the whole entry or none; an entry whose
header or digest does not match (a disk filled up, a hand edit) is a miss and
is fetched again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"VXSPEECH1"
_HEADER = struct.Struct(">Q32s")  # payload length, payload sha256


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where speech is cached: ``$VOXFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/voxflow/speech``, else ``~/.cache/...``."""
    env = os.environ if env is None else env
    if env.get("VOXFLOW_CACHE_DIR"):
        return Path(env["VOXFLOW_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".cache"  # XDG: a relative value is ignored
    return root / "voxflow" / "speech"


class SpeechCache:
    """Payloads on disk by (service, model, voice, text, format); ``get`` misses on anything damaged."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else default_cache_dir()

    def path_for(self, service: str, model: str, voice: str, text: str, fmt: str) -> Path:
        key = json.dumps([service, model, voice, text, fmt], ensure_ascii=False).encode("utf-8")
        digest = hashlib.sha256(key).hexdigest()
        return self.folder / digest[:2] / f"{digest}.{fmt}"

    def get(self, service: str, model: str, voice: str, text: str, fmt: str) -> bytes | None:
        """The cached payload, or None when it is absent or damaged (then it is fetched and written again)."""
        path = self.path_for(service, model, voice, text, fmt)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("speech cache: cannot read %s (%s); fetching again", path, error.strerror or error)
            return None
        head = len(MAGIC) + _HEADER.size
        if len(data) >= head and data.startswith(MAGIC):
            length, digest = _HEADER.unpack_from(data, len(MAGIC))
            payload = data[head:]
            if len(payload) == length and hashlib.sha256(payload).digest() == digest:
                return payload
        log.warning("speech cache: %s is damaged; fetching again", path)
        return None

    def put(self, service: str, model: str, voice: str, text: str, fmt: str, payload: bytes) -> Path | None:
        """Store ``payload`` atomically (temp file + rename); None, logged, when the folder is not writable."""
        path = self.path_for(service, model, voice, text, fmt)
        record = MAGIC + _HEADER.pack(len(payload), hashlib.sha256(payload).digest()) + payload
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
            with os.fdopen(handle, "wb") as out:
                out.write(record)
            os.replace(tmp, path)
            return path
        except OSError as error:
            log.warning("speech cache: cannot write %s (%s); speech is not cached", path, error.strerror or error)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return None
