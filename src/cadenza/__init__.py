"""Cadenza: generative music, every technique from scratch, on one API.

    >>> import cadenza
    >>> model = cadenza.create("markov")
    >>> model.fit(cadenza.corpus("bach", split="train"))
    >>> pieces = model.generate(n=4, seed=0)
    >>> model.save("runs/markov-bach")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The API's names, imported on first use: `import cadenza.cli` (and so `cadenza --help`) then
# costs nothing of numpy, symusic or the corpora.
_LAZY = {
    "CadenzaError": "cadenza.errors",
    "available": "cadenza.models.base",
    "corpus": "cadenza.data.corpora",
    "create": "cadenza.models.base",
    "load": "cadenza.models.base",
}

if TYPE_CHECKING:
    from cadenza.data.corpora import corpus
    from cadenza.errors import CadenzaError
    from cadenza.models.base import available, create, load

__all__ = ["CadenzaError", "__version__", "available", "corpus", "create", "load"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'cadenza' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
