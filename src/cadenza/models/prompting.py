"""Text prompts as the prompted models read them: checked, then encoded once (cached).

The encoder is :mod:`cadenza.nn.text_encoder` (all-MiniLM-L6-v2, frozen); the
adapter that turns its vector into a prefix, and guidance, are in
:mod:`cadenza.nn.prompt`. Shared by ``text_transformer`` and ``maskgit``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from cadenza.errors import CadenzaError

MAX_PROMPT_CHARACTERS = 2000  # a longer prompt is refused; one over the encoder's 256 word pieces is cut


def encoder():
    """The sentence encoder, built under the lock every model build takes (see run_check)."""
    from cadenza.models.run_check import BUILD_LOCK
    from cadenza.nn.text_encoder import text_encoder

    with BUILD_LOCK:
        return text_encoder()


@lru_cache(maxsize=64)
def prompt_vector(text: str) -> np.ndarray:
    """The prompt's 384-d unit vector (each distinct prompt encoded once a process)."""
    return encoder().encode([text])[0]


def check_prompt(text: str | None, example: str = "a lively jig in D major", what: str = "the piece") -> str | None:
    """The prompt as the encoder will read it, or one clear error; a warning where it is cut.
    ``example`` and ``what`` word the error for the model asking."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise CadenzaError(f"the prompt must be text, got {type(text).__name__}")
    if not text.strip():
        raise CadenzaError(f"the prompt is empty: describe {what} (e.g. '{example}') or leave --prompt out for "
                           "the unprompted model")
    if len(text) > MAX_PROMPT_CHARACTERS:
        raise CadenzaError(f"the prompt is {len(text)} characters long; at most {MAX_PROMPT_CHARACTERS}")
    from cadenza.nn.text_encoder import MAX_WORD_PIECES

    pieces = encoder().word_pieces(text)
    if pieces > MAX_WORD_PIECES - 2:
        warnings.warn(f"the prompt is {pieces} word pieces long; the text encoder reads the first "
                      f"{MAX_WORD_PIECES - 2}", stacklevel=3)
    return text.strip()
