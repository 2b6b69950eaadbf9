"""Markov chains: held-out bits per event by order and viewpoint, fit and generation speed.

Bach chorales (soprano melodies; all four parts for the chord viewpoint) and,
when its cache builds (about 90 s the first time), the Essen folk songs (top
voice), each with the corpus's deterministic train/valid/test split. The
Essen joint (pitch + duration) table sits beside a unigram (order 0: each
symbol's frequency, with the same Kneser-Ney discount and uniform floor for
unseen events) and picks its best order on the validation split. Last, the
time of a genetic-algorithm harmonisation of a 16-bar melody.
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
import time
from pathlib import Path

TITLE = "Markov chains: bits per event by order and viewpoint"

ORDERS = (1, 2, 3, 4, 5)
ESSEN_ORDERS = (1, 2, 3, 4, 5, 6)
VIEWPOINTS = ("pitch", "interval", "duration", "joint")
PIECES = 1000  # pieces a generation timing
CONSTRAINED = {"length": 32, "key": "G major", "cadence": True}


def _table(name, train, test, part, chord: bool) -> list[str]:
    import cadenza

    bits, times = {}, {}
    viewpoints = VIEWPOINTS + (("chord",) if chord else ())
    for viewpoint in viewpoints:
        for order in ORDERS:
            model = cadenza.create("markov", order=order, viewpoint=viewpoint, part=part)
            start = time.perf_counter()
            model.fit(train)
            fit = time.perf_counter() - start
            bits[viewpoint, order] = model.log_prob(test).bits_per_event
            start = time.perf_counter()
            model.generate(n=10, seed=0, length=32)
            times[viewpoint, order] = (fit, time.perf_counter() - start)
    head = "| order | " + " | ".join(viewpoints) + " | pitch + duration |"
    lines = [(f"**{name}** ({len(train)} train, {len(test)} test pieces): held-out bits per event "
             "(pitch and interval predict the same pitch-or-rest sequence; pitch + duration adds the "
             "two independent chains, comparable with joint)"), "", head,
             "|" + "---|" * (len(viewpoints) + 2)]
    for order in ORDERS:
        cells = [f"{bits[v, order]:.3f}" for v in viewpoints]
        cells.append(f"{bits['pitch', order] + bits['duration', order]:.3f}")
        lines.append(f"| {order} | " + " | ".join(cells) + " |")
    lines += ["", (f"**{name}**: fit seconds / seconds to generate 10 pieces of 32 events "
              "(exact-length conditioning, first call, so it includes building the unrolled chain)"), "",
              "| order | " + " | ".join(viewpoints) + " |", "|" + "---|" * (len(viewpoints) + 1)]
    for order in ORDERS:
        lines.append(f"| {order} | " + " | ".join(f"{times[v, order][0]:.2f} / {times[v, order][1]:.2f}"
                                                   for v in viewpoints) + " |")
    return lines + [""]


def _constrained(train) -> list[str]:
    import cadenza

    lines = [("**Constrained generation** (Bach soprano, joint viewpoint, 100 pieces of 32 events, "
             "key D minor, range 60-76, first and last note D4, cadence; first call / second call)"), "",
             "| order | max_copy | first call s | second call s |", "|---|---|---|---|"]
    for order, copy in ((2, None), (3, None), (3, 6), (4, 8)):
        model = cadenza.create("markov", order=order, part="Soprano").fit(train)
        options = {"length": 32, "key": "D minor", "low": 60, "high": 76, "first_note": 62, "last_note": 62,
                   "cadence": True, "max_copy": copy}
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            model.generate(n=100, seed=0, **options)
            runs.append(time.perf_counter() - start)
        lines.append(f"| {order} | {copy or '-'} | {runs[0]:.2f} | {runs[1]:.2f} |")
    return lines + [""]


def _unigram_bits(model, pieces) -> float:
    """Order 0 with the model's symbols, discount and floor: the baseline every order must beat."""
    from cadenza.models.symbolic.markov_ngram import KneserNey

    unigram = KneserNey(0, model.ngram_.size).fit(model._ids, model._lengths)
    ids, lengths = model.viewpoint.encode(pieces, model.config.part, model.vocabulary_)[:2]
    return -unigram.log_prob(ids, lengths) / lengths.sum() / math.log(2)


def _notes_per_second(model, **options) -> tuple[float, float, float]:
    """Notes a second generating PIECES pieces (scores included): first call, second call, and the
    second call by this process's CPU time."""
    rates = []
    for seed in (0, 1):
        start, cpu = time.perf_counter(), time.process_time()
        pieces = model.generate(n=PIECES, seed=seed, **options)
        notes = sum(p.note_num() for p in pieces)
        rates.append((notes / (time.perf_counter() - start), notes / (time.process_time() - cpu)))
    return rates[0][0], rates[1][0], rates[1][1]


def _essen_joint(train, valid, test) -> tuple[list[str], str]:
    """The Essen joint table, and the lead line: the best order against the unigram."""
    import cadenza

    rows, models = {}, {}
    for order in ESSEN_ORDERS:
        model = cadenza.create("markov", order=order, viewpoint="joint")
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(train)
        fit = (time.perf_counter() - start, time.process_time() - cpu)
        rows[order] = {"valid": model.log_prob(valid).bits_per_event, "test": model.log_prob(test).bits_per_event,
                       "fit": fit, "free": _notes_per_second(model),
                       "constrained": _notes_per_second(model, **CONSTRAINED)}
        models[order] = model
    unigram = {"valid": _unigram_bits(models[1], valid), "test": _unigram_bits(models[1], test)}
    best = min(ESSEN_ORDERS, key=lambda o: rows[o]["valid"])
    lines = [(f"**Essen folk songs, pitch + duration (joint viewpoint)**: {len(train)} train, {len(valid)} "
              f"valid, {len(test)} test tunes (top voice). Held-out bits per note; fit seconds on the "
              f"{len(train)} training tunes (symbols extracted and counted), wall clock / CPU time of this process "
              "(the machine is shared: the CPU time is what an idle machine would take); notes a second generating "
              f"{PIECES} pieces as scores, free (the chain decides when to end) and constrained (32 events, "
              "G major, final cadence; exact conditioning), first call (builds the chain's tables) / "
              "second call (second call by CPU time)."), "",
             "| order | valid bits | test bits | beats unigram | fit s (wall / CPU) | free notes/s "
             "| constrained notes/s |",
             "|---:|---:|---:|:---:|---:|---:|---:|",
             f"| 0 (unigram) | {unigram['valid']:.3f} | {unigram['test']:.3f} | | | | |"]
    for order, r in rows.items():
        beats = "yes" if r["valid"] < unigram["valid"] and r["test"] < unigram["test"] else "**no**"
        lines.append(f"| {order}{' (best)' if order == best else ''} | {r['valid']:.3f} | {r['test']:.3f} | "
                     f"{beats} | {r['fit'][0]:.2f} / {r['fit'][1]:.2f} | {r['free'][0]:,.0f} / {r['free'][1]:,.0f} "
                     f"({r['free'][2]:,.0f}) | {r['constrained'][0]:,.0f} / {r['constrained'][1]:,.0f} "
                     f"({r['constrained'][2]:,.0f}) |")
    lines += ["", (f"Best order on the valid split: **{best}**, test **{rows[best]['test']:.3f}** bits per note "
                   f"(unigram {unigram['test']:.3f}).")]
    everything = list(train) + list(valid) + list(test)
    fits = []
    for order in (1, 3, 5):
        start, cpu = time.perf_counter(), time.process_time()
        cadenza.create("markov", order=order, viewpoint="joint").fit(everything)
        fits.append(f"order {order} {time.perf_counter() - start:.2f} s / {time.process_time() - cpu:.2f} s")
    lines += ["", f"Fit on all {len(everything)} Essen tunes (cache loaded; wall / CPU): " + ", ".join(fits) + "."]
    beaten = sum(r["valid"] < unigram["valid"] and r["test"] < unigram["test"] for r in rows.values())
    lead = (f"**Against the unigram baseline (order 0: each symbol's frequency), same run:** on the Essen test "
            f"split the best order ({best}, chosen on the valid split) takes **{rows[best]['test']:.3f}** bits per "
            f"note against the unigram's {unigram['test']:.3f} (**{rows[best]['test'] / unigram['test']:.2f}x**); "
            f"{beaten} of {len(rows)} orders beat it on both splits. No peer library is timed: the speeds below "
            "are absolute, for this machine and load.")
    return lines + [""], lead


def _harmonisation() -> list[str]:
    import cadenza

    spec = importlib.util.spec_from_file_location("bench_genetic", Path(__file__).with_name("bench_genetic.py"))
    genetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(genetic)
    with tempfile.TemporaryDirectory() as tmp:
        source, path = genetic._melody(Path(tmp) / "melody.mid")
        times = []
        for seed in (0, 1, 2):
            model = cadenza.create("genetic", task="harmonize", melody=str(path))
            start = time.perf_counter()
            model.generate(n=1, seed=seed)
            times.append(time.perf_counter() - start)
        generations = model.config.generations
        population = model.config.population
    return [(f"**Genetic harmonisation** of {source}, default settings ({generations} generations, population "
             f"{population}), reading the melody included: " + ", ".join(f"{t:.2f} s" for t in times)
             + " (seeds 0-2; target < 10 s)."), ""]


def run() -> str:
    import cadenza

    bach_train = cadenza.corpus("bach", split="train", progress=False)
    bach_test = cadenza.corpus("bach", split="test", progress=False)
    lines = _table("Bach chorales", bach_train, bach_test, "Soprano", chord=True)
    lines += _constrained(bach_train)
    try:
        start = time.perf_counter()
        essen = {split: cadenza.corpus("essen", split=split, progress=False) for split in ("train", "valid", "test")}
        lines.append(f"Essen corpus loaded in {time.perf_counter() - start:.1f} s.")
        lines.append("")
        essen_lines, lead = _essen_joint(essen["train"], essen["valid"], essen["test"])
        lines += essen_lines
        lines += _table("Essen folk songs", essen["train"], essen["test"], None, chord=False)
    except cadenza.CadenzaError as exc:
        lead = f"Essen skipped ({exc}): no baseline in this run; the figures below are absolute."
    lines += _harmonisation()
    return "\n".join([lead, "", *lines])


if __name__ == "__main__":
    print(run())
