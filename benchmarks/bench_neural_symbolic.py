"""Neural symbolic models: Essen bits per note (Markov, LSTM, transformer) and generation speed.

Bits per note: every model scores the same Essen test pieces (the
corpus's deterministic split, top voice); a model's bits per note is the
total negative log-likelihood of the pieces in its own representation
(Markov: pitch+duration events and the end; LSTM and transformer: every
REMI token after BOS, conditioning tokens and EOS included), in bits,
divided by the number of notes of the pieces' melodies. Markov's order is
chosen on the valid split. The transformer is the shipped
``pretrained/folk`` (``scripts/train_pretrained.py``); the LSTM is the
``laptop`` preset trained here for a fixed number of steps.

Generation speed: a GPT-2 of the shipped folk model's shape (random
weights: speed does not depend on them) samples 512 tokens with the grammar
mask on, with the KV cache and without, against ``model.generate`` of
transformers itself (sampling, KV cache, no mask), one thread, best of 3.
"""

from __future__ import annotations

import math
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TITLE = "Neural symbolic models: Essen bits per note, generation speed"

MARKOV_ORDERS = (1, 2, 3, 4, 5, 6)
LSTM_STEPS = 500
SPEED_TOKENS = 512


def _notes(pieces) -> int:
    from cadenza.music.transforms import melody

    return sum(len(melody(p).tracks[0].notes) for p in pieces)


def _bits_table() -> list[str]:
    import torch

    import cadenza
    from cadenza.models.base import pretrained_dir
    from cadenza.utils import one_thread

    train = cadenza.corpus("essen", split="train", progress=False)
    valid = cadenza.corpus("essen", split="valid", progress=False)
    test = cadenza.corpus("essen", split="test", progress=False)
    test = [p for p in test if _notes([p]) > 0]
    notes = _notes(test)
    rows = []

    best = None
    for order in MARKOV_ORDERS:
        model = cadenza.create("markov", order=order, viewpoint="joint")
        model.fit(train)
        valid_bits = model.log_prob(valid).bits_per_event
        if best is None or valid_bits < best[0]:
            best = (valid_bits, order, model)
    _, order, markov = best
    rows.append((f"Markov, joint viewpoint, order {order} (best on valid)", -markov.log_prob(test).total,
                 "counts, seconds"))

    lstm = cadenza.create("lstm", preset="laptop", max_steps=LSTM_STEPS, seed=0)
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lstm.fit(train, valid=valid)
    finally:
        torch.set_num_threads(threads)
    minutes = (time.perf_counter() - started) / 60
    with one_thread():
        rows.append((f"LSTM, `laptop` preset (2 x 256), {lstm.metrics_['train_steps']} steps",
                     -lstm.log_prob(test).total, f"{minutes:.1f} CPU-min"))

    folk = pretrained_dir() / "folk"
    if (folk / "cadenza.json").is_file():
        transformer = cadenza.load(folk)
        with one_thread():
            total = -transformer.log_prob(test).total
        c = transformer.config
        rows.append(((f"Transformer `pretrained/folk` (GPT-2, {c.layers} x {c.dim}, "
                     f"{transformer.metrics_.get('train_steps', '?')} steps)"), total,
                     f"{transformer.metrics_.get('train_minutes', '?')} CPU-min"))

    markov_nats = rows[0][1]
    lines = [f"**Essen test split**: {len(test)} pieces, {notes} notes; bits per note = total NLL in bits / notes; "
             "the baseline is the Markov chain (bits against its bits: below 1 is better).",
             "", "| model | bits per note | against Markov | training |", "|---|---|---:|---|"]
    for name, nats, cost in rows:
        lines.append(f"| {name} | {nats / math.log(2) / notes:.3f} | {nats / markov_nats:.2f}x | {cost} |")
    return lines + [""]


def _speed_table() -> list[str]:
    import numpy as np
    import torch

    import cadenza
    from cadenza.data import tokens as T
    from cadenza.models.base import build_dataclass
    from cadenza.utils import one_thread

    model = cadenza.create("transformer", layers=3, heads=4, dim=96, context=1024, dropout=0.0)
    model.tokenizer_ = T.MusicTokenizer(model.config.spec())
    torch.manual_seed(0)
    model.net_ = model._build_net(model.tokenizer_.vocab_size).eval()
    options = build_dataclass(model.Sampling, {"max_tokens": SPEED_TOKENS}, "speed")

    def ours(cache: bool) -> float:
        best = math.inf
        for seed in range(3):
            started = time.perf_counter()
            ids = model.sample_ids(np.random.default_rng(seed), options, allow_eos=False, cache=cache)
            best = min(best, time.perf_counter() - started)
            assert len(ids) > SPEED_TOKENS - 8  # cut back to the last whole note at the limit
        return SPEED_TOKENS / best

    def hf() -> float:
        best = math.inf
        for seed in range(3):
            torch.manual_seed(seed)
            started = time.perf_counter()
            out = model.net_.generate(torch.tensor([[model.tokenizer_.bos]]), do_sample=True, top_k=0,
                                      max_new_tokens=SPEED_TOKENS - 1, min_new_tokens=SPEED_TOKENS - 1,
                                      use_cache=True, pad_token_id=model.tokenizer_.pad)
            best = min(best, time.perf_counter() - started)
            assert out.shape[1] == SPEED_TOKENS
        return SPEED_TOKENS / best

    with one_thread(), torch.no_grad():
        cached, uncached, reference = ours(True), ours(False), hf()
    params = sum(p.numel() for p in model.net_.parameters()) / 1e6
    lead = (f"**Against transformers, same run:** Cadenza's sampler (KV cache, grammar mask on) generates "
            f"**{cached / reference:.2f}x** the tokens a second of transformers' `model.generate` (KV cache, no "
            f"mask), and **{cached / uncached:.1f}x** those of the same sampler without its cache (the naive "
            f"baseline); GPT-2 of {params:.2f} M parameters, {SPEED_TOKENS} tokens, one thread, best of 3.")
    return [lead, "", (f"**Generation speed**, {SPEED_TOKENS} tokens, GPT-2 {params:.2f} M parameters "
                       "(the folk model's shape), one thread, best of 3:"), "",
            "| sampler | against transformers `generate` | against no cache | tokens/s |", "|---|---:|---:|---:|",
            f"| Cadenza, KV cache, grammar mask on | **{cached / reference:.2f}x** | {cached / uncached:.1f}x "
            f"| {cached:.0f} |",
            f"| Cadenza, no cache, grammar mask on | {uncached / reference:.2f}x | 1.0x | {uncached:.0f} |",
            f"| transformers `model.generate` (KV cache, no mask) | 1.00x | {reference / uncached:.1f}x "
            f"| {reference:.0f} |",
            ""]


def run() -> str:
    bits = _bits_table()  # measured first, as always; shown after the speed table, whose ratios lead
    return "\n".join(_speed_table() + bits)


if __name__ == "__main__":
    print(run())
