"""Cadenza: generative music, every technique from scratch, on one API.

    >>> import cadenza
    >>> model = cadenza.create("markov")
    >>> model.fit(cadenza.corpus("bach", split="train"))
    >>> pieces = model.generate(n=4, seed=0)
    >>> model.save("runs/markov-bach")
"""

__version__ = "0.1.0"

from cadenza.data.corpora import corpus
from cadenza.errors import CadenzaError
from cadenza.models.base import available, create, load

__all__ = ["CadenzaError", "__version__", "available", "corpus", "create", "load"]
