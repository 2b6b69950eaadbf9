"""A polyphonic frame model: a GRU over past frames, a MADE and a pitch-tied net over the next frame.

The task and the benchmark are those of N. Boulanger-Lewandowski, Y. Bengio
and P. Vincent, "Modeling Temporal Dependencies in High-Dimensional
Sequences: Application to Polyphonic Music Generation and Transcription",
ICML 2012: a piano roll (one frame a quarter note, 88 keys) is modelled as
p(x_1..x_T) = prod_t p(x_t | x_<t), and the score is the NLL of frames 2..T
(see :mod:`cadenza.evaluate.polyphonic`). Their RNN-NADE puts a NADE
(H. Larochelle and I. Murray, "The Neural Autoregressive Distribution
Estimator", AISTATS 2011) on every frame, with biases computed by an RNN
over the past frames, so that the keys of one frame are modelled jointly
(a chord is not 88 independent coins) and the frame probability is exact.

What this module reproduces: an RNN over past frames whose state
conditions an autoregressive distribution over the keys of the next frame,
p(x_t | x_<t) = prod_k p(x_t[k] | x_t[<k], h_t), trained by exact maximum
likelihood; ``frame_log_prob`` is the sum of the 88 conditionals, a
normalised probability of the whole frame.

What it changes:

- the per-frame distribution is a MADE (M. Germain, K. Gregor, I. Murray
  and H. Larochelle, "MADE: Masked Autoencoder for Distribution
  Estimation", ICML 2015; in :mod:`cadenza.nn.made`) rather than a NADE:
  masked dense layers, one matrix product for all 88 conditionals, with
  direct (masked) input-to-output connections as in the MADE paper; the
  RNN state enters every hidden and output unit of the MADE (not only the
  biases, as in RNN-NADE), and the keys are ordered from low to high; ``output="nade"``
  swaps in a true NADE (one sigmoid hidden layer whose weights all keys
  share, biases from the RNN state as in RNN-NADE) for comparison: on a CPU
  it is about eight times slower a step than the MADE and was not better
  in the same wall-clock time on JSB;
- the RNN is a GRU (K. Cho et al., EMNLP 2014) rather than a plain RNN,
  trained end to end with AdamW, dropout (also on the MADE's hidden units,
  ``made_dropout``) and gradient clipping, without the
  RBM/NADE pre-training of the paper;
- with ``local``, a second network adds to each key's logit: one small
  MLP shared by all keys that reads the key's neighbourhood (the previous
  frame within ``local`` semitones, the keys already decided below it,
  both frames and, with ``tonal``, the piece so far folded into pitch
  classes counted from the key). This borrows the weight tying across
  pitch of D. D. Johnson, "Generating Polyphonic Music Using Tied Parallel
  Networks", EvoMUSART 2017, as an extra term beside the MADE rather than
  in place of it; on JSB it is what takes the model below SRNN's 4.74;
- ``average`` keeps a moving average of the weights (Polyak averaging),
  which is what is validated, checkpointed and returned;
- ``mixture`` scores with an equal mixture of the model over transpositions
  of the piece (the training augmentation, applied at test time as a
  mixture). It is an exact, normalised distribution: each component is the
  model on the keyboard rotated by s semitones (a bijection on rolls), and
  the conditional of frame t weights each component by its likelihood of
  frames < t. It needs no training and is chosen on the valid split;
- training pieces are transposed by a random number of semitones (train
  split only) and long pieces are cut into random windows of at most
  ``max_frames`` frames; scoring always runs over whole pieces.

``fit`` takes Scores (converted with one frame a quarter note) or ``T x 88``
0/1 arrays (``fit_rolls``, for the ``.mat`` benchmark files); ``generate``
samples frames, and the keys within each frame, one at a time.

The networks and the training dataset are in
:mod:`cadenza.models.symbolic.polyphonic_net` and the training recipe in
:mod:`cadenza.models.symbolic.polyphonic_system`; both import torch, which this
module imports only when it builds, trains, scores or samples a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import symusic

from cadenza.data.polyphonic import PIANO_KEYS, roll_to_score, score_to_roll
from cadenza.errors import CadenzaError
from cadenza.models.base import LogProb, Sampling, option, register
from cadenza.models.neural import NeuralGenerator
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad

if TYPE_CHECKING:
    from cadenza.models.symbolic.polyphonic_net import FrameNet


@dataclass
class PolyphonicConfig(TrainingConfig):
    hidden: int = option(128, "GRU state size.", min=1, max=8192)
    layers: int = option(2, "GRU layers.", min=1, max=16)
    output: Literal["made", "nade"] = option(
        "made", "Distribution across the keys of a frame: a MADE (masked dense layers) or a NADE (shared weights).")
    made_hidden: int = option(256, "Hidden units of each MADE layer (of the NADE's one hidden layer with 'nade').",
                              min=1, max=16_384)
    made_layers: int = option(1, "Hidden layers of the MADE across the keys of a frame.", min=1, max=16)
    dropout: float = option(0.3, "Dropout on the GRU's input, between its layers and on its output.", min=0, below=1)
    made_dropout: float = option(0.0, "Dropout on the hidden units of the MADE / NADE.", min=0, below=1)
    transpose: int = option(6, "Transpose training pieces by up to this many semitones up or down (0: off).",
                            min=0, max=24)
    max_frames: int = option(160, "Longest training window in frames (longer pieces are cut at random).",
                             min=2, max=100_000)
    skip: bool = option(True, "Also feed the previous frame straight to the MADE, beside the GRU state.")
    local: int = option(12, "Radius in semitones of the key-neighbourhood network added to the MADE (0: off).",
                        min=0, max=88)
    local_hidden: int = option(96, "Hidden units of each layer of the key-neighbourhood network.", min=1, max=8192)
    local_layers: int = option(1, "Hidden layers of the key-neighbourhood network.", min=1, max=16)
    tonal: bool = option(True, "Give the networks the pitch classes heard so far in the piece (its key).")
    average: float = option(0.999, "Decay of a moving average of the weights, which is validated and kept "
                                   "(0: off).", min=0, below=1)
    mixture: int = option(0, "Score and sample as an equal mixture of the model transposed by up to this many "
                             "semitones either way (0: the model alone). Costs 2m+1 passes; no training.",
                         min=0, max=24)
    # Training defaults sized for the JSB benchmark on a CPU.
    max_steps: int = option(20000, "Stop after this many optimiser steps.", min=1, max=10_000_000)
    steps_per_epoch: int = option(100, "Steps between validation and checkpoints.", min=1, max=1_000_000)
    patience: int = option(8, "Stop when the valid loss has not improved for this many epochs (0: never).",
                           min=0, max=10_000)
    batch_size: int = option(16, "Pieces (or windows) a batch.", min=1, max=65_536)
    learning_rate: float = option(1e-2, "Learning rate (AdamW); halved when the valid loss stalls.", above=0, max=10)

    def __post_init__(self):
        if self.local and not self.skip:
            raise ValueError("local needs skip: the neighbourhood network reads the previous frame")


@dataclass
class PolyphonicSampling(Sampling):
    length: int | None = option(None, "Frames (quarter notes) a piece; None: 64.", min=1, max=100_000)


def _as_roll(piece) -> np.ndarray:
    if isinstance(piece, symusic.core.ScoreTick):
        return score_to_roll(piece)
    roll = np.asarray(piece)
    if roll.ndim != 2 or roll.shape[1] != PIANO_KEYS:
        raise CadenzaError(f"a piano roll must have shape (T, {PIANO_KEYS}), got {roll.shape}")
    return (roll > 0).astype(np.uint8)


# --- the model ------------------------------------------------------------------------------------

@register
class PolyphonicModel(NeuralGenerator):
    """GRU + MADE (+ pitch-tied key network) frame model of piano rolls (RNN-NADE family)."""

    name = "polyphonic"
    Config = PolyphonicConfig
    Sampling = PolyphonicSampling
    tiny_config = {"hidden": 16, "layers": 1, "made_hidden": 32, "local": 4, "local_hidden": 8, "average": 0.0,
                   "max_steps": 30, "steps_per_epoch": 10, "batch_size": 4, "learning_rate": 1e-2, "transpose": 0}
    tiny_sampling = {"length": 8}
    presets = {# The shipped runs. JSB: 10-minute one-thread trials, valid NLL without the mixture
               # (docs/models/polyphonic.md): GRU + two-layer MADE 4.772; adding the key-neighbourhood
               # network 4.758 (at half the steps); with weight averaging 4.682; with a one-layer
               # MADE of 256 and a wider key network 4.675; with the tonal input 4.623; with the
               # padded frames skipped (twice the steps) 4.561; key network of 96 units 4.538.
               "jsb": {"dropout": 0.4, "made_dropout": 0.2},
               "nottingham": {"max_frames": 128, "steps_per_epoch": 200, "dropout": 0.2, "made_dropout": 0.1}}

    def _new_net(self) -> FrameNet:
        from cadenza.models.symbolic.polyphonic_net import FrameNet

        c = self.config
        return FrameNet(PIANO_KEYS, c.hidden, c.layers, c.made_hidden, c.made_layers, c.dropout, c.skip, c.output,
                        c.made_dropout, c.local, c.local_hidden, c.tonal, c.local_layers)

    def fit_rolls(self, train: list[np.ndarray], valid: list[np.ndarray] | None = None, workdir=None,
                  progress: bool = False, data: dict | None = None, trainer=None):
        """Fit on ``T x 88`` piano rolls (e.g. ``load_piano_rolls(path, "train")``)."""
        self.fit(list(train), valid=list(valid) if valid is not None else None, workdir=workdir, progress=progress,
                 trainer=trainer)
        if data:
            self.data_spec_ = data
        return self

    def _datasets(self, pieces, valid):
        from cadenza.models.symbolic.polyphonic_net import RollSet, pad_rolls

        train = [r for r in map(_as_roll, pieces) if r.shape[0] >= 1]
        valid = [r for r in map(_as_roll, valid) if r.shape[0] >= 2]
        if not train:
            raise CadenzaError(f"{self.name}: no piece has a frame to train on")
        c = self.config
        self._monitor = "valid_loss" if valid else "train_loss_epoch"
        # Key frequencies, blurred over the transpositions: the output biases start at their log-odds.
        counts = np.concatenate(train).sum(axis=0).astype(np.float64)
        if c.transpose:
            counts = np.convolve(counts, np.ones(2 * c.transpose + 1), mode="same")
        frames = sum(r.shape[0] for r in train) * (2 * c.transpose + 1)
        self._key_frequency = np.clip((counts + 0.5) / (frames + 1), 1e-4, 0.5)
        return (RollSet(train, c.max_frames, c.transpose, augment=True),
                RollSet(valid, None, 0, augment=False) if valid else None, pad_rolls)

    def _system(self):
        import torch

        from cadenza.models.symbolic.polyphonic_net import NADE

        torch.manual_seed(self.config.seed)
        net = self._new_net()
        if getattr(self, "_key_frequency", None) is not None:
            # Starting at p = 0.5 a key, Adam would spend its first thousand steps only lowering
            # 88 biases towards the ~4 keys a frame that sound.
            with torch.no_grad():
                frame_model = net.frame_model
                bias = frame_model.out_bias if isinstance(frame_model, NADE) else frame_model.out.bias
                bias.copy_(torch.as_tensor(np.log(self._key_frequency / (1 - self._key_frequency))))
        from cadenza.models.symbolic.polyphonic_system import PolyphonicSystem

        return PolyphonicSystem(net, self.config, getattr(self, "_monitor", "valid_loss"))

    def _finish(self, system, result):
        self.net_ = system.kept.eval()

    # --- scoring --------------------------------------------------------------------------------

    @no_grad
    def frame_log_prob(self, roll: np.ndarray) -> np.ndarray:
        """``[T]``: entry t is log p(roll[t] | roll[:t]) in nats (entry 0 given an empty past).

        With ``mixture`` m the model is p(x) = mean_s p_net(x shifted by s)
        over the 2m+1 shifts s in -m..m (cyclic along the keyboard, so each
        component is a distribution too), and entry t is its exact
        conditional: the components are weighted by how well each has
        predicted frames < t, and entries sum to log p(x).
        """
        import torch

        self._check_fitted()
        roll = _as_roll(roll)
        if roll.shape[0] == 0:
            return np.zeros(0)
        shifts = range(-self.config.mixture, self.config.mixture + 1)
        x = torch.from_numpy(np.stack([np.roll(roll, s, axis=1) for s in shifts]).astype(np.float32))
        logp = self.net_.eval().frame_log_prob(x).double()  # [components, T]
        before = torch.cumsum(logp, dim=1) - logp  # log p_s(frames < t)
        return (torch.logsumexp(before + logp, dim=0) - torch.logsumexp(before, dim=0)).numpy()

    @no_grad
    def predict_frames(self, roll: np.ndarray) -> np.ndarray:
        """``[T, 88]`` 0/1: frame t guessed from roll[:t], key by key, each key on when p >= 0.5
        given the keys already guessed below it (greedy; a NADE has no tractable marginals)."""
        import torch

        self._check_fitted()
        roll = _as_roll(roll)
        x = torch.from_numpy(roll.astype(np.float32))[None]
        net = self.net_.eval()
        context = net.context(x)[0]
        guess = torch.zeros_like(x)
        for k in range(PIANO_KEYS):
            guess[..., k] = (net.key_logits(guess, context)[..., k] >= 0).float()
        return guess[0].numpy().astype(np.uint8)

    def _log_prob(self, pieces) -> LogProb:
        total, frames = 0.0, 0
        for piece in pieces:
            logp = self.frame_log_prob(piece)
            total += float(logp.sum())
            frames += logp.size
        return LogProb(total, frames)

    # --- generation -----------------------------------------------------------------------------

    @no_grad
    def _generate_one(self, rng: np.random.Generator, options) -> symusic.Score:
        import torch

        length = options.length or 64
        net = self.net_.eval()
        rolls = torch.zeros(1, length, PIANO_KEYS)
        for t in range(length):
            # The context of frame t has seen frames < t only; a few dozen frames make rerunning
            # the GRU over the prefix cheaper than the 88 key steps below.
            context = net.context(rolls[:, :t + 1])[0][:, t:]
            frame = torch.zeros(1, 1, PIANO_KEYS)
            uniform = rng.random(PIANO_KEYS)
            for k in range(PIANO_KEYS):
                p = torch.sigmoid(net.key_logits(frame, context)[0, 0, k] / options.temperature).item()
                frame[0, 0, k] = float(uniform[k] < p)
            rolls[0, t] = frame[0, 0]
        frames = rolls[0].numpy().astype(np.uint8)
        if self.config.mixture:  # a draw from the mixture: a component at random, then its shift undone
            frames = np.roll(frames, -rng.integers(-self.config.mixture, self.config.mixture + 1), axis=1)
        return roll_to_score(frames)

    # --- state ----------------------------------------------------------------------------------

    def _state(self):
        return {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}, {}

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.run_check import module_spec

        spec = module_spec(self._new_net())
        if any(name.startswith("made.") for name in header):  # an older run: see _load_state
            spec = {_old_name(name): want for name, want in spec.items()}
        return spec

    def _load_state(self, arrays, extra):
        # load() has checked every tensor against _expected_arrays: names, shapes, float32, finite.
        net = self._new_net()
        # Runs saved before the frame model (a MADE or a NADE) stopped being called ``made``.
        import torch

        renamed = {("frame_model." + k[len("made."):] if k.startswith("made.") else k): v for k, v in arrays.items()}
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in renamed.items()})
        self.net_ = net.eval()


def _old_name(name: str) -> str:
    """A tensor's name in runs saved while the frame model was called ``made``."""
    return "made." + name[len("frame_model."):] if name.startswith("frame_model.") else name
