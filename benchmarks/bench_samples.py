"""Samples from each model, scored by `cadenza eval`'s library against the held-out Essen corpus.

Every system generates 100 pieces with fixed seeds; `evaluate_set` (what
`cadenza eval` and `cadenza compare` run) measures them against the Essen
train split, next to the real-vs-real line (Essen test vs train).
"""

from __future__ import annotations

import math
import time

TITLE = "Samples: every model's output scored against Essen, next to real-vs-real"

N = 100
SEED = 0
MARKOV_ORDER = 6  # best order on the Essen valid split (joint viewpoint), see the markov benchmark
LSTM_STEPS = 300
SHOWN = ("pitch_class_entropy", "scale_consistency", "pitch_range", "mean_interval", "notes_per_bar")


def _f(x, digits=3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _systems(train, valid):
    """(label, how it was made, generate() -> pieces, fit seconds); each builds lazily."""
    import cadenza

    def markov():
        model = cadenza.create("markov", order=MARKOV_ORDER, viewpoint="joint")
        started = time.perf_counter()
        model.fit(train)
        return model, time.perf_counter() - started, {}

    def lstm():
        model = cadenza.create("lstm", preset="laptop", max_steps=LSTM_STEPS, seed=0)
        started = time.perf_counter()
        model.fit(train, valid=valid)
        return model, time.perf_counter() - started, {"bars": 16}

    def transformer():
        return cadenza.load("pretrained/folk"), 0.0, {"bars": 16}

    def automaton():
        return cadenza.create("automaton"), 0.0, {}

    return [(f"markov (order {MARKOV_ORDER}, joint)", "trained on Essen train", markov),
            (f"lstm (tiny, {LSTM_STEPS} steps)", "trained on Essen train", lstm),
            ("transformer (pretrained/folk)", "shipped checkpoint, `bars=16`", transformer),
            ("automaton (defaults, untrained)", "rule 110, no training", automaton)]


def _row(label: str, evaluation, gen_seconds: float | None, fit: str) -> str:
    s = evaluation.summary()
    nov = s["novelty"]
    means = [_f(s["metrics"][m]) for m in SHOWN]
    gen = "-" if gen_seconds is None else f"{gen_seconds:.1f} s"
    return (f"| {label} | " + " | ".join(means) + f" | {_f(s.get('mean_oa'))} | {_f(s.get('mean_kl'))} "
            f"| {_f(nov['longest_run'], 1)} | {_f(nov['copy_rate_8'])} | {_f(nov['near_copy_share'])} "
            f"| {fit} | {gen} |")


def run() -> str:
    import torch

    from cadenza.data.corpora import corpus
    from cadenza.evaluate.suite import PieceSet, Reference, evaluate_set

    torch.set_num_threads(1)
    started = time.perf_counter()
    reference = Reference.load("essen", progress=False)
    ref_seconds = time.perf_counter() - started
    train = corpus("essen", split="train", progress=False)
    valid = corpus("essen", split="valid", progress=False)

    rows = [_row(f"**Essen test vs train (real)** ({len(reference.test)} pieces)", reference.real, None, "-")]
    real = reference.real.summary()
    against_real = []
    for label, made, build in _systems(train, valid):
        model, fit_seconds, options = build()
        t0 = time.perf_counter()
        pieces = model.generate(n=N, seed=SEED, **options)
        gen_seconds = time.perf_counter() - t0
        evaluation = evaluate_set(PieceSet(label, [str(i) for i in range(N)], pieces), reference)
        fit = f"{fit_seconds:.0f} s" if fit_seconds else made
        rows.append(_row(label, evaluation, gen_seconds, fit))
        summary = evaluation.summary()
        against_real.append(f"{label.split(' ')[0]} **{summary['mean_oa'] / real['mean_oa']:.2f}x** / "
                            f"{summary['novelty']['copy_rate_8'] / real['novelty']['copy_rate_8']:.2f}x")

    train_means = {m: sum(v for v in reference.train_metrics[m] if not math.isnan(v))
                   / max(1, sum(not math.isnan(v) for v in reference.train_metrics[m])) for m in SHOWN}
    lead = (f"**Against real music, same run** (the real-vs-real line: Essen test against train, mean OA "
            f"{real['mean_oa']:.3f}, 8-gram copy rate {real['novelty']['copy_rate_8']:.3f}): each system's mean OA / "
            "8-gram copy rate over real music's, " + ", ".join(against_real) + " (OA 1x: as close to the training "
            "set as real music is; copy rate above 1x: copies more of it than real music does).")
    lines = [lead, "", f"{N} pieces a system (seed {SEED}), each scored with `evaluate_set` (the library behind "
             f"`cadenza eval` / `cadenza compare`) against the Essen train split ({len(reference.train)} "
             f"pieces; analysed in {ref_seconds:.0f} s). Metric columns are per-piece means; OA / KL are "
             "Yang & Lerch's mean overlapping area (higher is closer) and KL (lower is closer) over nine "
             "features; novelty uses interval events: longest copied run (events), 8-gram copy rate, "
             "share of near copies. The real-vs-real line comes first: read every number against it.", "",
             "| system | " + " | ".join(SHOWN) + " | mean OA | mean KL | longest copied run "
             "| 8-gram copy rate | near copies | training | generation (100 pieces) |",
             "|---|" + "---:|" * len(SHOWN) + "---:|---:|---:|---:|---:|---|---:|",
             *rows,
             "| *Essen train (means)* | " + " | ".join(_f(train_means[m]) for m in SHOWN) + " | | | | | | | |",
             ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
