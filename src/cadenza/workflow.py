"""Runs, the way every interface makes them: train, evaluate and save a model; write
what it generates. The CLI and the studio call these, so a run trained from
either is the same run.

This module sits above ``evaluate/`` and ``models/`` and below the interfaces.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.errors import CadenzaError


def training_data(cls: type, name: str | os.PathLike, split: str, progress: bool = True):
    """What a model class fits on, by name: a score corpus or folder for a symbolic model;
    an audio set or folder of audio for an audio model (which may also take a score
    corpus, played through a SoundFont, where it says how)."""
    from cadenza.data.audio_sets import audio_set
    from cadenza.data.corpora import CORPORA, corpus

    if cls.domain == "audio" and str(name) not in CORPORA:
        return audio_set(name, split, progress)
    return corpus(name, split=split, progress=progress)


def _valid_split(cls: type, name, progress: bool):
    try:
        return training_data(cls, name, "valid", progress=False)
    except CadenzaError:
        return None  # a folder or set without a valid split: train without early stopping


@dataclass
class TrainedRun:
    model: object
    out: Path
    metrics: dict = field(default_factory=dict)
    data_name: str = ""
    examples: int = 0
    primary: bool = True  # False in the other processes of a DDP run: they neither evaluate nor save


def train(name: str, data: str | os.PathLike, out: str | os.PathLike, preset: str | None = None,
          config: dict | None = None, trainer=None, split: str = "train", progress: bool = True,
          on_stage: Callable[[str], None] | None = None, restart: bool = False) -> TrainedRun:
    """Create model ``name``, fit it on ``data`` (validating on its valid split), evaluate it
    there and save it to ``out``. Running it again with the same ``out`` resumes training
    from its newest good checkpoint; ``restart`` starts training afresh instead, removing
    the checkpoints only (:func:`cadenza.train.engine.start_afresh`: samples, logs and
    other files stay). Ctrl-C raises :class:`cadenza.train.engine.TrainingInterrupted`.

    Under DDP each process runs this (Lightning re-runs the command); only the first
    evaluates and saves, the others return once training ends (``primary`` False)."""
    from cadenza.models.base import create
    from cadenza.models.neural import NeuralGenerator

    stage = on_stage or (lambda _text: None)
    model = create(name, preset=preset, **(config or {}))
    if isinstance(model, NeuralGenerator):
        from cadenza.train.engine import check_trainer_options, primary_process

        trainer = check_trainer_options(trainer)  # before the data: a wrong GPU flag costs nothing
        if not primary_process():
            stage = lambda _text: None  # noqa: E731  (the first process speaks for all)
    stage("loading the data")
    pieces = training_data(type(model), data, split, progress)
    valid = _valid_split(type(model), data, progress) if split == "train" else None
    out = Path(out)
    if restart and (out / "checkpoints").is_dir():
        # Only now that the model and its data are known to be good: a typo must not cost
        # the run its checkpoints.
        from cadenza.train.engine import start_afresh

        removed = start_afresh(out)
        stage(f"starting afresh: removed {len(removed)} checkpoint files from {out / 'checkpoints'}")
    stage(f"training on {len(pieces)} {'clips' if model.domain == 'audio' else 'pieces'}")
    started = time.perf_counter()
    model.fit(pieces, valid=valid, workdir=out, progress=progress, trainer=trainer)
    if isinstance(model, NeuralGenerator) and not primary_process():
        return TrainedRun(model, out, {}, getattr(pieces, "name", str(data)), len(pieces), primary=False)
    metrics = {"fit_seconds": round(time.perf_counter() - started, 3), "train_pieces": len(pieces)}
    if valid is not None and len(valid):
        stage("evaluating on the valid split")
        metrics.update(evaluate_fitted(model, valid))
    model.save(out, metrics=metrics)
    return TrainedRun(model, out, metrics, getattr(pieces, "name", str(data)), len(pieces))


def evaluate_fitted(model, valid) -> dict:
    """Held-out numbers for a freshly trained model: its likelihood where it defines one,
    reconstruction errors for a codec or a latent model, and resynthesis errors for an
    instrument played by f0 and loudness."""
    from cadenza.data.audio_sets import AudioSet
    from cadenza.models.abilities import Codec, LatentSpace, Streaming, Transfer

    metrics = {}
    try:
        metrics["valid_bits_per_event"] = round(model.log_prob(valid).bits_per_event, 4)
    except CadenzaError:
        pass  # this model defines no likelihood
    if isinstance(model, Codec) and isinstance(valid, AudioSet):
        from cadenza.evaluate.codec import held_out_metrics

        metrics.update(held_out_metrics(model, valid))
    if isinstance(model, LatentSpace) and isinstance(model, Transfer) and isinstance(valid, AudioSet):
        from cadenza.evaluate.latent import held_out_metrics as reconstruction_metrics

        metrics.update(reconstruction_metrics(model, valid))
    if isinstance(model, Streaming) and {"f0", "loudness"} <= set(model.controls) and isinstance(valid, AudioSet):
        from cadenza.evaluate.audio import resynthesis_metrics

        metrics.update(resynthesis_metrics(model, valid, max_seconds=30.0))
    return metrics


FORMATS = ("mid", "musicxml", "wav", "png")


def write_pieces(pieces: list, out: str | os.PathLike, prefix: str, formats=("mid", "png"),
                 title: Callable[[int], str] | None = None) -> list[dict]:
    """Write each generated piece as ``out/PREFIX-NN.*``: a score in the ``formats`` asked for
    (MIDI, MusicXML, a SoundFont WAV, a piano-roll PNG), an audio clip as a WAV.
    ``title(i)`` names piece ``i`` in its MusicXML and its plot. Returns one row a piece:
    name, notes (None for audio), seconds, files."""
    import symusic

    from cadenza.audio.io import Audio, write_audio
    from cadenza.music.io import write_midi, write_musicxml
    from cadenza.music.plot import plot_piano_roll
    from cadenza.music.render import DEFAULT_SAMPLE_RATE, render

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, piece in enumerate(pieces):
        stem = out / f"{prefix}-{index + 1:02d}"
        if isinstance(piece, Audio):
            rows.append({"name": stem.name, "notes": None, "seconds": piece.seconds,
                         "files": [piece.write(stem.with_suffix(".wav"))]})
            continue
        if not isinstance(piece, symusic.core.ScoreTick):
            raise TypeError(f"cannot write a {type(piece).__name__}")
        written = []
        if "mid" in formats:
            written.append(write_midi(piece, stem.with_suffix(".mid")))
        name = title(index) if title else f"{prefix} {index + 1}"
        if "musicxml" in formats:
            written.append(write_musicxml(piece, stem.with_suffix(".musicxml"), title=name))
        if "wav" in formats:
            written.append(write_audio(stem.with_suffix(".wav"), render(piece), DEFAULT_SAMPLE_RATE))
        if "png" in formats:
            plot_piano_roll(piece, stem.with_suffix(".png"), title=name)
            written.append(stem.with_suffix(".png"))
        rows.append({"name": stem.name, "notes": sum(len(t.notes) for t in piece.tracks),
                     "seconds": piece.to("second").end(), "files": written})
    return rows


def parse_formats(value: str) -> list[str]:
    chosen = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in chosen if v not in FORMATS]
    if bad or not chosen:
        raise CadenzaError(f"unknown output format {bad[0] if bad else value!r} (choose from {', '.join(FORMATS)})")
    return chosen
