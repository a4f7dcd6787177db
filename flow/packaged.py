"""The flows voxflow ships: the demo, found by name when the path given does not exist.

An installed voxflow carries ``flows/demo.yaml`` and its recording as package
data under ``flow/examples/`` (see setup.py), so README's
``voxflow run flows/demo.yaml`` works from any folder; in a checkout the same
files are read from ``flows/``. A path that exists always wins. See
docs/ARCHITECTURE.md ("Packaging").
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
FOLDERS = (_HERE / "examples", _HERE.parent / "flows")  # installed wheel, then a checkout
PACKAGED = ("demo.yaml",)


def packaged_flow(name: str) -> Path | None:
    """The shipped flow called ``name`` (``demo`` or ``demo.yaml``), if there is one."""
    file_name = name if name.endswith(".yaml") else f"{name}.yaml"
    if file_name not in PACKAGED:
        return None
    for folder in FOLDERS:
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    return None


def find_flow(path: Path) -> Path:
    """``path`` when it exists, else the shipped flow of the same name (else ``path``, for the loader's error)."""
    if path.exists():
        return path
    return packaged_flow(path.name) or path
