"""Text prompts: does ``pretrained/folk-text`` write what it is asked for?

Prompts are captions of held-out pieces (the test split of Essen, Ryan's and
O'Neill's collections, never trained on), written two ways: with the training
paraphrase frames ("a lively jig in D major, in 6/8") and with frames the model
never saw ("I would like to hear ..."). For each prompt the model writes two
pieces (seeds 0 and 1, 16 bars at most), and each piece is checked against what
its prompt says, where it says it:

- key: the Krumhansl-Schmuckler estimate of the piece's notes has the asked
  tonic and mode; mode: the asked mode;
- meter: the piece's time signature is the asked one.

Baselines measured in the same run: the same model unprompted (guidance 0,
the learned empty prompt), the corpus prior (how often a random training piece
has the asked value, what a model that ignores prompts but matches the corpus
scores), uniform chance, and the real held-out pieces themselves (their key
estimate against their own caption: the ceiling the key estimate allows).
OA is the mean overlapping area (Yang & Lerch 2020, :mod:`cadenza.evaluate.compare`)
between the generated pieces and the real pieces whose captions prompted them.
"""

from __future__ import annotations

import os
import time
from collections import Counter

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TITLE = "Text prompts: prompt adherence of pretrained/folk-text"

PROMPTS = 32  # held-out pieces captioned
SEEDS = (0, 1)
GUIDANCE = (0.0, 1.0, 2.0, 3.0)
UNSEEN_GUIDANCE = (0.0, 2.0)
BARS = 16
CORPUS = "essen+ryans+oneill"


def _prompts():
    import numpy as np

    import cadenza
    from cadenza.data import captions as C

    test = cadenza.corpus(CORPUS, split="test", progress=False)
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(test), size=min(PROMPTS, len(test)), replace=False))
    pieces = [test[int(i)] for i in chosen]
    facts = C.corpus_facts(test)
    facts = [facts[int(i)] for i in chosen]
    seen = [C.caption(f, rng, C.TRAIN_FRAMES, keep=0.9) for f in facts]
    unseen = [C.caption(f, rng, C.UNSEEN_FRAMES, keep=0.9) for f in facts]
    return pieces, seen, unseen


def _matches(score, asked: dict) -> dict[str, bool]:
    from cadenza.data.tokens import meter_of
    from cadenza.evaluate.metrics import key_estimate
    from cadenza.music.theory import parse_pitch_class

    out = {}
    if "tonic" in asked and score.note_num():
        root, mode, _ = key_estimate(score)
        mode = "minor" if mode == "minor" else "major"
        out["key"] = root == parse_pitch_class(asked["tonic"]) and mode == asked["mode"]
        out["mode"] = mode == asked["mode"]
    if "meter" in asked:
        out["meter"] = meter_of(score) == asked["meter"]
    return out


def _rates(results: list[dict[str, bool]]) -> dict[str, tuple[float, int]]:
    rates = {}
    for what in ("key", "mode", "meter"):
        values = [r[what] for r in results if what in r]
        rates[what] = (sum(values) / len(values) if values else float("nan"), len(values))
    return rates


def _prior(prompts: list[str]) -> dict[str, float]:
    """How often a random training piece has what each prompt asks for, averaged over the prompts."""
    import cadenza
    from cadenza.data import captions as C

    train = cadenza.corpus(CORPUS, split="train", progress=False)
    facts = C.corpus_facts(train)
    keys = Counter((f.tonic, f.mode) for f in facts)
    modes = Counter(f.mode for f in facts)
    meters = Counter(f.meter for f in facts)
    total = len(facts)
    sums = {"key": [], "mode": [], "meter": []}
    from cadenza.music.theory import TONIC_NAMES, parse_pitch_class

    for prompt in prompts:
        asked = C.prompt_facts(prompt)
        if "tonic" in asked:
            tonic = TONIC_NAMES[parse_pitch_class(asked["tonic"])]
            sums["key"].append(keys[(tonic, asked["mode"])] / total)
            sums["mode"].append(modes[asked["mode"]] / total)
        if "meter" in asked:
            sums["meter"].append(meters[asked["meter"]] / total)
    return {k: sum(v) / len(v) if v else float("nan") for k, v in sums.items()}


def _oa(generated, real) -> float:
    import numpy as np

    from cadenza.evaluate.compare import compare_sets

    generated = [g for g in generated if g.note_num() > 1]
    if len(generated) < 2 or len(real) < 2:
        return float("nan")
    return float(np.mean([c.oa for c in compare_sets(generated, real).values()]))


def _generate(model, prompts, guidance):
    pieces, matches = [], []
    from cadenza.data import captions as C

    for prompt in prompts:
        asked = C.prompt_facts(prompt)
        for seed in SEEDS:
            score = model.generate(n=1, seed=seed, prompt=prompt, guidance=guidance, bars=BARS)[0]
            pieces.append(score)
            matches.append(_matches(score, asked))
    return pieces, matches


def _cell(rate: tuple[float, int]) -> str:
    value, count = rate
    return "-" if count == 0 else f"{100 * value:.0f} % ({count})"


def run() -> str:
    import cadenza
    from cadenza.data import captions as C
    from cadenza.utils import one_thread

    started = time.perf_counter()
    model = cadenza.load("pretrained/folk-text")
    real, seen, unseen = _prompts()
    prior = _prior(seen)
    real_matches = [_matches(score, C.prompt_facts(p)) for score, p in zip(real, seen)]
    rows, timing = [], {}
    with one_thread():
        for label, prompts, values in (("held-out captions", seen, GUIDANCE),
                                       ("unseen paraphrases", unseen, UNSEEN_GUIDANCE)):
            for guidance in values:
                t = time.perf_counter()
                pieces, matches = _generate(model, prompts, guidance)
                timing[(label, guidance)] = (time.perf_counter() - t) / len(pieces)
                rows.append((label, guidance, _rates(matches), _oa(pieces, real)))
    best = {label: max((r for r in rows if r[0] == label and r[1] > 0), key=lambda r: r[2]["key"][0])
            for label in ("held-out captions", "unseen paraphrases")}
    plain = next(r for r in rows if r[0] == "held-out captions" and r[1] == 0)
    lines = [
        "Key asked for and written (Krumhansl estimate of the notes): "
        f"{100 * best['held-out captions'][2]['key'][0]:.0f} % "
        f"with held-out captions (guidance {best['held-out captions'][1]:g}) and "
        f"{100 * best['unseen paraphrases'][2]['key'][0]:.0f} % with unseen paraphrases, against "
        f"{100 * plain[2]['key'][0]:.0f} % unprompted, {100 * prior['key']:.0f} % for the corpus prior "
        f"and {100 / 24:.0f} % by chance; meter {100 * best['held-out captions'][2]['meter'][0]:.0f} % against "
        f"{100 * plain[2]['meter'][0]:.0f} % unprompted and {100 * prior['meter']:.0f} % prior.",
        "",
        f"`pretrained/folk-text`, {len(seen)} held-out pieces of {CORPUS} (test split) captioned, "
        f"{len(SEEDS)} pieces a prompt, at most {BARS} bars; a cell is the share of pieces that match "
        "(pieces whose prompt named it). Unprompted is guidance 0 (the learned empty prompt).",
        "",
        "| prompts | guidance | key | mode | meter | OA vs the prompting pieces | s a piece |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, guidance, rates, oa in rows:
        lines.append(f"| {label} | {guidance:g} | {_cell(rates['key'])} | {_cell(rates['mode'])} | "
                     f"{_cell(rates['meter'])} | {oa:.3f} | {timing[(label, guidance)]:.2f} |")
    real_rates = _rates(real_matches)
    lines += [f"| the real pieces (their own caption) | - | {_cell(real_rates['key'])} | "
              f"{_cell(real_rates['mode'])} | {_cell(real_rates['meter'])} | - | - |",
              f"| corpus prior | - | {100 * prior['key']:.0f} % | {100 * prior['mode']:.0f} % | "
              f"{100 * prior['meter']:.0f} % | - | - |",
              f"| uniform chance | - | {100 / 24:.0f} % | 50 % | {100 / 10:.0f} % | - | - |",
              "",
              "Examples (held-out caption, then the unseen paraphrase of the same piece):",
              ""]
    lines += [f"- {a!r} / {b!r}" for a, b in list(zip(seen, unseen))[:4]]
    lines += ["", f"Whole benchmark: {time.perf_counter() - started:.0f} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
