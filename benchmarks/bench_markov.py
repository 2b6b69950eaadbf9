"""Markov chains: held-out bits per event by order and viewpoint, fit and generation times.

Bach chorales (soprano melodies; all four parts for the chord viewpoint) and,
when its cache builds (about 90 s the first time), the Essen folk songs (top
voice), each with the corpus's deterministic train/test split.
"""

from __future__ import annotations

import time

TITLE = "Markov chains: bits per event by order and viewpoint"

ORDERS = (1, 2, 3, 4, 5)
VIEWPOINTS = ("pitch", "interval", "duration", "joint")


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


def run() -> str:
    import cadenza

    bach_train = cadenza.corpus("bach", split="train", progress=False)
    bach_test = cadenza.corpus("bach", split="test", progress=False)
    lines = _table("Bach chorales", bach_train, bach_test, "Soprano", chord=True)
    lines += _constrained(bach_train)
    try:
        start = time.perf_counter()
        essen_train = cadenza.corpus("essen", split="train", progress=False)
        essen_test = cadenza.corpus("essen", split="test", progress=False)
        lines.append(f"Essen corpus loaded in {time.perf_counter() - start:.1f} s.")
        lines.append("")
        lines += _table("Essen folk songs", essen_train, essen_test, None, chord=False)
    except cadenza.CadenzaError as exc:
        lines.append(f"Essen skipped: {exc}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
