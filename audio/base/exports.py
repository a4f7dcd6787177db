"""Package exports that load on first use, so a package can name its public surface without importing it.

Why: a package's ``__init__`` lists its public names (``__all__``), the only
names other packages may import from it (``tests/core/test_layers.py``). Importing
them eagerly would pull aiortc, uvicorn or the speech engines into every
command that touches one light module, so each name is looked up in its home
module when first asked for (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``homes`` maps a public name to its module (a module maps to itself)."""

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{home}")
        return module if home == name else getattr(module, name)

    def dir_() -> list[str]:
        return sorted(homes)

    return getattr_, dir_
