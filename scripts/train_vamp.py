"""Train the shipped masked token model (``pretrained/vamp``) over the shipped codec.

    python scripts/train_vamp.py [--minutes 25] [--threads 2] [--max-steps 3000] [--data violin+ensemble+drums+notes]
                                 [--no-text]

A ``maskgit`` model (MaskGIT / VampNet) over the first 8 codebooks of
``pretrained/codec`` (4 kbps at 50 frames a second), learnt from the audio sets
the codec learnt from (a mix joined by ``+``): the ``laptop`` preset, seed 0.
The training audio is encoded once by the codec, then training runs on windows
of 100 token frames (2 s). Training state goes to ``runs/pretrained-vamp``
(re-running with a larger ``--minutes`` resumes: the budget counts the minutes
already spent); the run is then written into the package with its network's
weights in fp16 (as ``pretrained/codec`` is, about 6 MB), and its config names
``pretrained/codec``, whose identity it records: retraining the codec means
retraining this model. Prints and records (in the run's metrics) the training
time and the masked-token accuracy and bits a token on the test split, against
a unigram baseline; ``python benchmarks/run.py maskgit`` measures the rest.

The model takes text prompts (``prompt_tokens=2``, ``prompt_dropout=0.15``, ``captions=4``:
each clip captioned from its labels and true f0, :mod:`cadenza.data.audio_captions`; the windows
cut within clips); with the empty prompt it is the unprompted model, so one checkpoint serves
both. ``--no-text`` trains without prompts (windows straddling clips, as before prompts existed).
``python benchmarks/run.py vamp_prompts`` measures whether it follows its prompts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cadenza import workflow
from cadenza.data.audio_sets import audio_set
from cadenza.models.audio.maskgit import save_half_precision
from cadenza.models.base import load, pretrained_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = "violin+ensemble+drums+notes"  # what scripts/train_codec.py trains the codec on
TEXT = {"prompt_tokens": 2, "prompt_dropout": 0.15, "captions": 4}  # unless --no-text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--data", default=DATA, help="audio sets to learn, joined by +")
    parser.add_argument("--codec", default="pretrained/codec", help="the codec run (the shipped one by default)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the preset's 3,000 steps (a larger "
                                                                     "value resumes a finished run)")
    parser.add_argument("--no-text", action="store_true", help="train without text prompts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = ROOT / "runs" / "pretrained-vamp"
    config = {"seed": 0, "codec": args.codec, **({} if args.no_text else TEXT)}
    if args.max_steps:
        config["max_steps"] = args.max_steps

    started = time.perf_counter()
    # train, validate, save: what `cadenza train maskgit --data DATA --out WORK --preset laptop` does
    model = workflow.train("maskgit", args.data, work, preset="laptop", config=config,
                           trainer={"max_minutes": args.minutes}).model
    seconds = time.perf_counter() - started
    test = audio_set(args.data, "test", progress=False)
    scored = model.masked_metrics(test, share=0.5, seed=0)
    metrics = {"wall_seconds": round(seconds, 1),
               **{f"test_masked_{k}": round(v, 4) if isinstance(v, float) else v for k, v in scored.items()}}
    model.save(work, metrics=metrics)
    target = save_half_precision(work, pretrained_dir() / "vamp")
    load(target)  # the fp16 copy loads, and finds its codec
    print(f"trained in {seconds:.0f} s: {model.metrics_}")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
