"""The demo: the main job of the toolkit, end to end, on the embedded Bach chorales.

Builds the corpus cache if needed, trains the Markov chain on the soprano
lines of the training chorales, measures it on the test chorales, generates
melodies and writes each as MIDI, MusicXML, WAV and a piano-roll PNG.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.audio.io import write_audio
from cadenza.data.corpora import corpus
from cadenza.models.base import create
from cadenza.music.io import write_midi, write_musicxml
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import DEFAULT_SAMPLE_RATE, render


@dataclass
class DemoReport:
    out: Path
    train_pieces: int
    test_pieces: int
    bits_per_note: float
    seconds: dict[str, float] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)


def run_demo(out: str | Path = "demo-output", n: int = 4, seed: int = 0, length: int = 48,
             progress: bool = True) -> DemoReport:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    train = corpus("bach", split="train", progress=progress)
    test = corpus("bach", split="test", progress=False)
    loaded = time.perf_counter()

    model = create("markov", part="Soprano").fit(train)
    likelihood = model.log_prob(test)
    model.save(out / "run", metrics={"test_bits_per_note": likelihood.bits_per_event})
    trained = time.perf_counter()

    report = DemoReport(out, len(train), len(test), likelihood.bits_per_event)
    for index, score in enumerate(model.generate(n=n, seed=seed, length=length)):
        stem = out / f"melody-{index + 1:02d}"
        audio = render(score, DEFAULT_SAMPLE_RATE)
        write_midi(score, stem.with_suffix(".mid"))
        write_musicxml(score, stem.with_suffix(".musicxml"), title=f"Markov chorale melody {index + 1}")
        write_audio(stem.with_suffix(".wav"), audio, DEFAULT_SAMPLE_RATE)
        plot_piano_roll(score, stem.with_suffix(".png"), title=f"Markov melody {index + 1} (seed {seed})")
        report.samples.append({
            "name": stem.name,
            "notes": sum(len(t.notes) for t in score.tracks),
            "seconds": audio.shape[-1] / DEFAULT_SAMPLE_RATE,
            "files": [stem.name + s for s in (".mid", ".musicxml", ".wav", ".png")],
        })
    done = time.perf_counter()
    report.seconds = {"load corpus": loaded - clock, "train + evaluate": trained - loaded,
                      "generate + write": done - trained, "total": done - clock}
    return report
