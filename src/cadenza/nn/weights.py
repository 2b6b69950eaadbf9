"""Weight normalisation at inference: computed once for a block of work, not once a layer call.

Salimans & Kingma 2016, "Weight Normalization" (https://arxiv.org/abs/1602.07868):
``w = g v / ||v||`` is a reparametrisation for training; at inference the
product is a constant, and recomputing it in every call of a 20 ms block would
take most of the block's time.

This module imports nothing heavy at import time: the models that use it are
listed without torch.
"""

from __future__ import annotations


def cached_weights():
    """A context in which every parametrised weight (weight norm) is computed once and reused."""
    from torch.nn.utils import parametrize

    return parametrize.cached()
