"""The demo: the main job of the toolkit, end to end, on the embedded Bach chorales.

Builds the corpus cache if needed, picks the order of the Markov chain
(pitch + duration of the soprano lines, orders 1 to 5) that predicts the
validation chorales best, trains it on the training chorales, measures it on
the validation and test chorales, generates melodies in the training
chorales' most common key ending with a cadence to its tonic (constrained
generation, not rejection: see ``markov.py``), and writes each as MIDI,
MusicXML, WAV and a piano-roll PNG.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.data.corpora import corpus
from cadenza.models.base import create
from cadenza.music.theory import Key
from cadenza.workflow import write_pieces

ORDERS = (1, 2, 3, 4, 5)


@dataclass
class DemoReport:
    out: Path
    train_pieces: int
    test_pieces: int
    bits_per_note: float  # on the test chorales
    order: int = 0
    valid_pieces: int = 0
    valid_bits_per_note: float = 0.0
    valid_bits_by_order: dict[int, float] = field(default_factory=dict)
    key: str = ""
    constraints: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)


def common_key(pieces, default: str = "G major") -> str:
    """The key of the most common first key signature of ``pieces``, e.g. ``"A minor"``."""
    signatures = Counter((k.key, k.tonality) for p in pieces for k in p.key_signatures[:1])
    if not signatures:
        return default
    (sharps, minor), _ = signatures.most_common(1)[0]
    return Key.from_signature(sharps, bool(minor)).name


def run_demo(out: str | Path = "demo-output", n: int = 4, seed: int = 0, length: int = 48,
             progress: bool = True) -> DemoReport:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    train = corpus("bach", split="train", progress=progress)
    valid = corpus("bach", split="valid", progress=False)
    test = corpus("bach", split="test", progress=False)
    loaded = time.perf_counter()

    valid_bits, models = {}, {}
    for order in ORDERS:
        models[order] = create("markov", order=order, viewpoint="joint", part="Soprano").fit(train)
        valid_bits[order] = models[order].log_prob(valid).bits_per_event
    order = min(valid_bits, key=valid_bits.get)
    model = models[order]
    likelihood = model.log_prob(test)
    model.save(out / "run", metrics={"valid_bits_per_note": valid_bits[order],
                                     "test_bits_per_note": likelihood.bits_per_event})
    trained = time.perf_counter()

    key = common_key(train)
    report = DemoReport(out, len(train), len(test), likelihood.bits_per_event, order, len(valid),
                        valid_bits[order], valid_bits, key,
                        f"{length} events, every pitch in {key}, final cadence to the tonic")
    pieces = model.generate(n=n, seed=seed, length=length, key=key, cadence=True)
    rows = write_pieces(pieces, out, "melody", ("mid", "musicxml", "wav", "png"),
                        title=lambda i: f"Markov melody {i + 1} (order {order}, {key}, seed {seed})")
    report.samples = [{**row, "files": [Path(f).name for f in row["files"]]} for row in rows]
    done = time.perf_counter()
    report.seconds = {"load corpus": loaded - clock, "train + evaluate": trained - loaded,
                      "generate + write": done - trained, "total": done - clock}
    return report
