"""Train the checkpoints shipped in ``src/cadenza/pretrained/`` (fixed seed, embedded corpora).

    python scripts/train_pretrained.py            # both
    python scripts/train_pretrained.py folk       # one of them

Each is a ``transformer`` (a Hugging Face GPT-2; ``folk-text`` a ``text_transformer``,
the same with a text prompt) trained from scratch on the train split,
early-stopped on the valid split; the script prints the valid
loss (nats a token) and bits per note on the valid split, and records them
in the run's ``cadenza.json``. Training state (checkpoints, logs, loss.png)
goes to ``runs/pretrained-NAME`` so an interrupted run resumes.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import cadenza
from cadenza.models.base import pretrained_dir
from cadenza.models.symbolic.text_transformer import TextTransformer
from cadenza.models.symbolic.transformer import Transformer

COMMON = {"architecture": "gpt2", "layers": 3, "heads": 4, "dim": 96, "dropout": 0.1, "tokenizer": "REMI",
          "conditions": True, "batch_size": 16, "learning_rate": 2e-3, "weight_decay": 0.01,
          "steps_per_epoch": 100, "patience": 4, "seed": 0}
CHECKPOINTS = {
    "folk": {"corpus": "essen", "config": dict(COMMON, melody=True, context=256, transpose=5, max_steps=600)},
    "chorale": {"corpus": "bach", "config": dict(COMMON, melody=False, context=256, transpose=3, max_steps=500)},
    # text prompts: captions from the collections' metadata, each piece in 3 keys with 2 captions a key
    "folk-text": {"corpus": "essen+ryans+oneill", "model": TextTransformer,
                  "config": dict(COMMON, melody=True, context=256, transpose=5, keys=2, captions=2, prompt_tokens=2,
                                 prompt_dropout=0.15, max_steps=3000, patience=6),
                  "trainer": {"max_minutes": 50}},
}


def train(name: str) -> None:
    spec = CHECKPOINTS[name]
    train_set = cadenza.corpus(spec["corpus"], split="train")
    valid_set = cadenza.corpus(spec["corpus"], split="valid", progress=False)
    # the class itself, not cadenza.create: training must not depend on every other model importing
    model = spec.get("model", Transformer)(**spec["config"])
    started = time.perf_counter()
    model.fit(train_set, valid=valid_set, workdir=Path("runs") / f"pretrained-{name}", progress=False,
              trainer=spec.get("trainer"))
    minutes = (time.perf_counter() - started) / 60
    loss = model.valid_loss(valid_set)
    bits = model.log_prob(valid_set).bits_per_event
    out = pretrained_dir() / name
    if out.exists():
        shutil.rmtree(out)
    model.save(out, metrics={"valid_loss": round(loss, 4), "valid_bits_per_note": round(bits, 4),
                             "train_minutes": round(minutes, 1)})
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{name}: {spec['corpus']} {len(train_set)} train pieces, {model.metrics_['train_steps']} steps "
          f"({model.metrics_['stopped_by']}) in {minutes:.1f} min; valid loss {loss:.4f} nats/token, "
          f"{bits:.3f} bits/note; {size:.1f} MB -> {out}", flush=True)


if __name__ == "__main__":
    # one thread: on a small shared CPU two threads contend and run slower than one
    torch.set_num_threads(int(os.environ.get("CADENZA_THREADS", "1")))
    for name in sys.argv[1:] or list(CHECKPOINTS):
        if name not in CHECKPOINTS:
            sys.exit(f"unknown checkpoint {name!r} (choose from {', '.join(CHECKPOINTS)})")
        train(name)
