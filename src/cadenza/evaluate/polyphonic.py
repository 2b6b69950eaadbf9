"""The polyphonic piano-roll likelihood benchmark, and two baselines.

Protocol of N. Boulanger-Lewandowski, Y. Bengio and P. Vincent, "Modeling
Temporal Dependencies in High-Dimensional Sequences: Application to
Polyphonic Music Generation and Transcription", ICML 2012, as scored by the
TCN paper's ``music_test.py`` (S. Bai, J. Z. Kolter and V. Koltun, "An
Empirical Evaluation of Generic Convolutional and Recurrent Networks for
Sequence Modeling", arXiv:1803.01271, 2018): a model predicts frame t of a
88-key piano roll from frames before t; the score is the negative log-
likelihood of the frame in nats, summed over the 88 keys, over frames 2..T of
every test piece, divided by the number of those frames (a frame-weighted
mean over the whole split, not a mean of per-piece means). The same mean over
*all* frames, the first predicted from an empty past, is reported beside it
(``nll_all``): that is how Boulanger-Lewandowski et al. (RNN-RBM, RNN-NADE)
and Fraccaro et al. 2016 (SRNN) count, so a published number is compared with
the column that counts frames as its paper did (:data:`PUBLISHED_RESULTS`
says which, and whether the number is exact, a bound or an estimate). Frame accuracy
(M. Bay, A. F. Ehmann and J. S. Downie, "Evaluation of multiple-F0 estimation
and tracking systems", ISMIR 2009) is TP / (TP + FP + FN), each summed over
all scored frames and keys, with predictions thresholded at 0.5 (or at the
threshold that is best on the validation split).

Any object that follows :class:`FrameModel` (or :class:`FrameProbabilityModel`)
can be scored; the two baselines here are examples:

- ``bernoulli``: every key independent and identically distributed over time,
  p(key on) = its frequency in the training frames (add-one smoothed);
- ``markov-pitch``: every key a two-state Markov chain of its own,
  p(on at t | on or off at t-1) counted on training frames (add-one smoothed).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from cadenza.data.polyphonic import PIANO_KEYS, load_piano_rolls
from cadenza.errors import CadenzaError

EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before the log, as a sigmoid output would be


@runtime_checkable
class FrameModel(Protocol):
    """A model of piano rolls that scores each frame given the frames before it.

    ``frame_log_prob(roll)`` takes a ``[T, 88]`` 0/1 array and returns ``[T]``
    natural-log probabilities: entry t is log p(roll[t] | roll[:t]), the
    joint probability of all 88 keys of frame t. Entry 0 is log p(roll[0])
    given an empty past; it counts in the all-frames NLL only, and a model
    that does not score the first frame returns NaN there (its all-frames
    NLL is then NaN).
    """

    def frame_log_prob(self, roll: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class FrameProbabilityModel(Protocol):
    """A model whose keys are independent given the past (RNN/TCN with a sigmoid output).

    ``frame_probabilities(roll)`` returns ``[T, 88]``: entry ``[t, k]`` is
    p(key k on at t | roll[:t]) (row 0 given an empty past). The
    log-likelihood and the frame accuracy both follow from it.
    """

    def frame_probabilities(self, roll: np.ndarray) -> np.ndarray: ...


def bernoulli_log_prob(roll: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``[T]`` log-probabilities of frames under independent per-key probabilities ``[T, 88]``."""
    p = np.clip(probs, EPS, 1 - EPS)
    y = roll.astype(bool)
    return np.where(y, np.log(p), np.log1p(-p)).sum(axis=1)


# --- baselines -------------------------------------------------------------------------------

class BernoulliBaseline:
    """Independent keys, constant over time: p(key on) from training frame counts."""

    name = "bernoulli"

    def fit(self, rolls: list[np.ndarray]) -> BernoulliBaseline:
        frames = np.concatenate(rolls).astype(np.float64)
        self.p_ = (frames.sum(axis=0) + 1) / (frames.shape[0] + 2)
        return self

    def frame_probabilities(self, roll: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.p_, roll.shape).copy()

    def frame_log_prob(self, roll: np.ndarray) -> np.ndarray:
        return bernoulli_log_prob(roll, self.frame_probabilities(roll))


class MarkovPitchBaseline:
    """Each key a two-state first-order Markov chain: p(on at t | state at t-1)."""

    name = "markov-pitch"

    def fit(self, rolls: list[np.ndarray]) -> MarkovPitchBaseline:
        counts = np.zeros((2, 2, PIANO_KEYS))  # [previous, current, key]
        for roll in rolls:
            prev, cur = roll[:-1].astype(bool), roll[1:].astype(bool)
            for a in (0, 1):
                for b in (0, 1):
                    counts[a, b] += ((prev == a) & (cur == b)).sum(axis=0)
        self.p_on_ = (counts[:, 1] + 1) / (counts.sum(axis=1) + 2)  # [previous, key]
        frames = np.concatenate(rolls).astype(np.float64)
        self.p_first_ = (frames.sum(axis=0) + 1) / (frames.shape[0] + 2)
        return self

    def frame_probabilities(self, roll: np.ndarray) -> np.ndarray:
        probs = np.empty(roll.shape)
        probs[0] = self.p_first_
        prev = roll[:-1].astype(np.int64)
        probs[1:] = np.take_along_axis(self.p_on_, prev, axis=0) if prev.size else probs[1:]
        return probs

    def frame_log_prob(self, roll: np.ndarray) -> np.ndarray:
        return bernoulli_log_prob(roll, self.frame_probabilities(roll))


BASELINES = {"bernoulli": BernoulliBaseline, "markov-pitch": MarkovPitchBaseline}


def baseline(name: str, train: list[np.ndarray]):
    if name not in BASELINES:
        raise CadenzaError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    return BASELINES[name]().fit(train)


# --- scoring --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolyphonicResult:
    nll: float  # nats a frame, summed over 88 keys, frames 2..T of every piece (the TCN code's protocol)
    frames: int  # frames scored for nll
    pieces: int
    accuracy: float  # Bay et al. frame accuracy over frames 2..T; NaN without frame probabilities
    threshold: float
    nll_all: float = math.nan  # nats a frame over all frames, frame 1 from an empty past (B-L 2012, SRNN)
    frames_all: int = 0  # frames scored for nll_all

    def as_dict(self) -> dict:
        return {"nll": self.nll, "frames": self.frames, "nll_all_frames": self.nll_all,
                "frames_all": self.frames_all, "pieces": self.pieces,
                "accuracy": self.accuracy, "threshold": self.threshold}


def _probabilities(model, roll: np.ndarray) -> np.ndarray:
    probs = np.asarray(model.frame_probabilities(roll), dtype=np.float64)
    if probs.shape != roll.shape:
        raise CadenzaError(f"frame_probabilities returned shape {probs.shape}, expected {roll.shape}")
    return probs


def accuracy_counts(roll: np.ndarray, probs: np.ndarray, threshold: float) -> np.ndarray:
    """``[TP, FP, FN]`` over frames 2..T."""
    y, guess = roll[1:].astype(bool), probs[1:] >= threshold
    return np.array([(y & guess).sum(), (~y & guess).sum(), (y & ~guess).sum()], np.int64)


def best_threshold(model, rolls: list[np.ndarray], grid=np.round(np.linspace(0.05, 0.95, 19), 2)) -> float:
    """The threshold with the highest frame accuracy on ``rolls`` (use the validation split)."""
    counts = np.zeros((len(grid), 3), np.int64)
    for roll in rolls:
        probs = _probabilities(model, roll)
        for i, th in enumerate(grid):
            counts[i] += accuracy_counts(roll, probs, th)
    acc = counts[:, 0] / np.maximum(counts.sum(axis=1), 1)
    return float(grid[int(acc.argmax())])


def evaluate_rolls(model, rolls: list[np.ndarray], threshold: float = 0.5) -> PolyphonicResult:
    """Score ``model`` on piano rolls: mean NLL over frames 2..T and over all frames, and frame accuracy."""
    has_probs = isinstance(model, FrameProbabilityModel)
    if not has_probs and not isinstance(model, FrameModel):
        raise CadenzaError(f"{type(model).__name__} cannot be scored on piano rolls "
                           "(it has neither frame_log_prob nor frame_probabilities)")
    total, frames, first = 0.0, 0, 0.0
    counts = np.zeros(3, np.int64)
    for roll in rolls:
        roll = np.asarray(roll)
        if roll.shape[0] < 1:
            continue
        if has_probs:
            probs = _probabilities(model, roll)
            logp = bernoulli_log_prob(roll, probs)
            counts += accuracy_counts(roll, probs, threshold)
        else:
            logp = np.asarray(model.frame_log_prob(roll), dtype=np.float64)
            if logp.shape != (roll.shape[0],):
                raise CadenzaError(f"frame_log_prob returned shape {logp.shape}, expected ({roll.shape[0]},)")
        total += float(logp[1:].sum())
        first += float(logp[0])  # NaN when the model does not score the first frame
        frames += roll.shape[0] - 1
    if frames == 0:
        raise CadenzaError("no piece with at least two frames to score")
    pieces = sum(1 for r in rolls if np.asarray(r).shape[0] >= 1)
    accuracy = counts[0] / counts.sum() if has_probs and counts.sum() else math.nan
    return PolyphonicResult(-total / frames, frames, len(rolls), float(accuracy), threshold,
                            -(total + first) / (frames + pieces), frames + pieces)


def benchmark(model_or_name, data: str | os.PathLike, split: str = "test",
              tune_threshold: bool = False) -> PolyphonicResult:
    """Score a model (or fit and score a baseline, by name) on a ``.mat`` piano-roll file."""
    data = Path(data)
    model = baseline(model_or_name, load_piano_rolls(data, "train")) \
        if isinstance(model_or_name, str) else model_or_name
    threshold = 0.5
    if tune_threshold and isinstance(model, FrameProbabilityModel):
        threshold = best_threshold(model, load_piano_rolls(data, "valid"))
    return evaluate_rolls(model, load_piano_rolls(data, split), threshold)


@dataclass(frozen=True)
class Published:
    """A published test NLL (nats a frame) and how to read it.

    ``kind``: ``exact`` (the model's own normalised likelihood), ``bound``
    (a variational bound: the true NLL is at most this) or ``estimate`` (a
    sampling estimate: AIS for an RBM's partition function, SMC for a
    latent-variable RNN). ``frames``: ``2..T`` (the TCN code's
    ``music_test.py``) or ``all`` (every frame, the first from an empty
    past, as the Boulanger-Lewandowski et al. evaluation notes ask).
    """

    model: str
    nll: float
    kind: str
    frames: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.model} ({self.source})"


KINDS = ("exact", "bound", "estimate")

# Strongest first within each kind of claim. Bai, Kolter & Koltun 2018 (arXiv:1803.01271, Table 1);
# Boulanger-Lewandowski, Bengio & Vincent, ICML 2012 (Table 1; RNN-RBM via AIS, RNN-NADE exact);
# Fraccaro, Sønderby, Paquet & Winther, NeurIPS 2016 (SRNN, an ELBO); Gu, Ghahramani & Turner,
# NeurIPS 2015 (NASMC-trained latent-variable RNN, an SMC estimate; compared there with the
# B-L 2012 table, so read as counting all frames).
PUBLISHED_RESULTS: dict[str, tuple[Published, ...]] = {
    "JSB_Chorales": (
        Published("NASMC LV-RNN", 3.99, "estimate", "all", "Gu 2015"),
        Published("SRNN", 4.74, "bound", "all", "Fraccaro 2016"),
        Published("RNN-NADE", 5.56, "exact", "all", "B-L 2012"),
        Published("RNN-RBM", 6.27, "estimate", "all", "B-L 2012"),
        Published("TCN", 8.10, "exact", "2..T", "Bai 2018"),
        Published("LSTM", 8.45, "exact", "2..T", "Bai 2018"),
    ),
    "Nottingham": (
        Published("RNN-NADE", 2.31, "exact", "all", "B-L 2012"),
        Published("RNN-RBM", 2.39, "estimate", "all", "B-L 2012"),
        Published("SRNN", 2.94, "bound", "all", "Fraccaro 2016"),
        Published("TCN", 3.07, "exact", "2..T", "Bai 2018"),
        Published("LSTM", 3.29, "exact", "2..T", "Bai 2018"),
    ),
}
PUBLISHED_SOURCES = ("Gu, Ghahramani & Turner, NeurIPS 2015; Fraccaro et al., NeurIPS 2016; "
                     "Boulanger-Lewandowski, Bengio & Vincent, ICML 2012; Bai, Kolter & Koltun 2018 "
                     "(arXiv:1803.01271)")

# {data: {"model (source, kind, frames)": nll}}, flat, for tables that list one number a row.
PUBLISHED = {stem: {f"{p.model} ({p.source}, {p.kind}, frames {p.frames})": p.nll for p in rows}
             for stem, rows in PUBLISHED_RESULTS.items()}
