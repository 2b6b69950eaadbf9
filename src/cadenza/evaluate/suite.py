"""One evaluation of a set of generated pieces against a reference corpus.

The reference is a corpus's training split (what a model learned from); its
test split, measured the same way against the same training split, gives the
real-vs-real line every generated number is read against. A reference is
analysed once (:class:`Reference`) and reused for any number of systems.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.evaluate.compare import FEATURES, compare_sets, feature_matrix
from cadenza.evaluate.metrics import METRICS, Piece, metric_table
from cadenza.evaluate.novelty import NoveltyIndex, summarise
from cadenza.evaluate.structure import structure
from cadenza.music.io import MIDI_SUFFIXES, SCORE_SUFFIXES, read_score

SAMPLES_DIR = "samples"


@dataclass
class PieceSet:
    """Scores with a name for each."""

    label: str
    names: list[str]
    scores: list

    def __len__(self) -> int:
        return len(self.scores)


def load_generated(path: str | os.PathLike) -> PieceSet:
    """The pieces of a folder of MIDI (or other score) files, a run directory, or one file.

    A run directory (one with ``cadenza.json``) gives the files under its
    ``samples/`` folder when it has one, else every score file in it.
    """
    path = Path(path)
    if not path.exists():
        raise CadenzaError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in SCORE_SUFFIXES:
            raise CadenzaError(f"{path}: not a MIDI file (expected {', '.join(MIDI_SUFFIXES)} "
                               "or a folder of them)")
        return PieceSet(path.stem, [path.name], [read_score(path)])
    root = path / SAMPLES_DIR if (path / "cadenza.json").is_file() and (path / SAMPLES_DIR).is_dir() else path
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SCORE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise CadenzaError(f"{root}: no MIDI files ({', '.join(MIDI_SUFFIXES)}) in this folder")
    return PieceSet(path.name, [p.relative_to(root).as_posix() for p in files], [read_score(p) for p in files])


def _features_ok(n: int) -> bool:
    return n >= 2


@dataclass
class Reference:
    """A reference corpus analysed once: train split (the reference) and test split (real-vs-real)."""

    name: str
    train: PieceSet
    test: PieceSet | None
    kind: str = "interval"
    train_features: dict = field(default=None, repr=False)
    train_metrics: dict = field(default=None, repr=False)
    index: NoveltyIndex = field(default=None, repr=False)
    real: Evaluation = field(default=None, repr=False)

    @classmethod
    def load(cls, name: str | os.PathLike, kind: str = "interval", progress: bool = True) -> Reference:
        """A named corpus (``bach``, ...) or a folder: its train split, and its test split when there is one."""
        from cadenza.data.corpora import corpus

        whole = None
        train = corpus(name, split="train", progress=progress)
        test = corpus(name, split="test", progress=False)
        if len(train) < 2:
            whole = corpus(name, split="all", progress=False)
            if len(whole) < 2:
                raise CadenzaError(f"reference {name}: needs at least two pieces, has {len(whole)}")
            train, test = whole, None
        ref = cls(train.name, PieceSet(train.name, list(train.ids), list(train)),
                  PieceSet(f"{train.name} test", list(test.ids), list(test))
                  if test is not None and len(test) >= 2 else None,
                  kind)
        ref.prepare()
        return ref

    def prepare(self) -> None:
        train = [Piece(s) for s in self.train.scores]  # each piece's notes read once, for all three
        self.train_features = feature_matrix(train)
        self.train_metrics = metric_table(train)
        self.index = NoveltyIndex(train, self.kind, ids=self.train.names)
        if self.test is not None:
            self.real = evaluate_set(self.test, self)


@dataclass
class Evaluation:
    """Everything measured about one set against one reference."""

    label: str
    names: list[str]
    metrics: dict  # {metric: [pieces]}
    comparison: dict | None  # {feature: FeatureComparison} against the reference train split
    novelty: list  # [Novelty]
    structure: list  # [dict]
    seconds: float = math.nan

    def metric_means(self) -> dict[str, float]:
        return {k: _nanmean(v) for k, v in self.metrics.items()}

    def structure_means(self) -> dict[str, float]:
        keys = self.structure[0].keys() if self.structure else ()
        return {k: _nanmean([s[k] for s in self.structure]) for k in keys}

    def summary(self) -> dict:
        out = {"pieces": len(self.names), "metrics": self.metric_means(),
               "novelty": summarise(self.novelty), "structure": self.structure_means(),
               "seconds": self.seconds}
        if self.comparison:
            out["comparison"] = {k: v.summary() for k, v in self.comparison.items()}
            out["mean_oa"] = float(np.mean([v.oa for v in self.comparison.values()]))
            out["mean_kl"] = float(np.mean([v.kl for v in self.comparison.values()]))
        return out

    def per_piece(self) -> list[dict]:
        return [{"piece": name,
                 **{k: _json_float(self.metrics[k][i]) for k in METRICS},
                 **{f"novelty_{k}": v for k, v in self.novelty[i].as_dict().items()},
                 **{f"structure_{k}": _json_float(v) for k, v in self.structure[i].items()}}
                for i, name in enumerate(self.names)]


def _nanmean(values) -> float:
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def _json_float(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def evaluate_set(pieces: PieceSet, reference: Reference) -> Evaluation:
    """Metrics, set comparison, novelty and structure of ``pieces`` against ``reference``."""
    if not len(pieces):
        raise CadenzaError(f"{pieces.label}: no pieces to evaluate")
    started = time.perf_counter()
    analysed = [Piece(s) for s in pieces.scores]  # each piece's notes read once, for every measure
    metrics = metric_table(analysed)
    comparison = None
    if _features_ok(len(pieces)):
        comparison = compare_sets(None, None, features_a=feature_matrix(analysed),
                                  features_b=reference.train_features)
    novelty = reference.index.measure_all(analysed)
    shape = [structure(p) for p in analysed]
    return Evaluation(pieces.label, list(pieces.names), metrics, comparison, novelty, shape,
                      time.perf_counter() - started)


__all__ = ["FEATURES", "Evaluation", "PieceSet", "Reference", "evaluate_set", "load_generated"]
