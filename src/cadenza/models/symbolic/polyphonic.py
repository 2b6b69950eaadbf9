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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import symusic
import torch
from torch import nn

from cadenza.data.polyphonic import PIANO_KEYS, roll_to_score, score_to_roll
from cadenza.errors import CadenzaError
from cadenza.models.base import LogProb, Sampling, option, register
from cadenza.models.neural import NeuralGenerator
from cadenza.nn.made import MADE, MaskedLinear
from cadenza.train.engine import TrainingConfig


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


# --- the network ----------------------------------------------------------------------------------

class NADE(nn.Module):
    """p(x[k] | x[<k], c) after Larochelle & Murray: one hidden layer shared by all keys.

    h_k = sigmoid(b + A c + sum_{j<k} W[:, j] x[j]), logit_k = d_k + V[k] . h_k + (D c)_k + (U x)_k
    with U strictly lower triangular. The running sum gives every conditional
    the whole of x[<k] through the same weights, which is what a MADE spreads
    over separately masked units. As in RNN-NADE, the context sets the biases.
    """

    def __init__(self, keys: int, context: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.keys = keys
        self.drop = nn.Dropout(dropout)
        self.weight = nn.Parameter(torch.randn(keys, hidden) * 0.01)  # W^T: row j is key j's input
        self.hidden_context = nn.Linear(context, hidden)
        self.readout = nn.Parameter(torch.randn(keys, hidden) / hidden ** 0.5)
        self.out_bias = nn.Parameter(torch.zeros(keys))
        self.out_context = nn.Linear(context, keys, bias=False)
        lower = np.arange(keys)[:, None] > np.arange(keys)[None, :]
        self.direct = MaskedLinear(keys, keys, lower, bias=False)

    def forward(self, x, c):
        """Logits ``[..., keys]``; entry k depends on ``x[..., :k]`` and ``c`` only."""
        a = torch.cumsum(x.unsqueeze(-1) * self.weight, dim=-2)  # [..., keys, hidden]: keys <= k
        a = torch.cat([torch.zeros_like(a[..., :1, :]), a[..., :-1, :]], dim=-2)  # keys < k
        h = self.drop(torch.sigmoid(a + self.hidden_context(c).unsqueeze(-2)))
        return (h * self.readout).sum(-1) + self.out_bias + self.out_context(c) + self.direct(x)


def pitch_classes(keys: int, lowest: int = 21) -> torch.Tensor:
    """``[keys, 12]`` one-hot pitch class of each key (key 0 is MIDI ``lowest``, A0 on a piano)."""
    return torch.as_tensor(np.eye(12, dtype=np.float32)[(lowest + np.arange(keys)) % 12])


class KeyNeighbourhood(nn.Module):
    """Logit of key k from its neighbourhood on the keyboard, with one set of weights for all keys.

    Key k sees the previous frame within ``radius`` semitones, the keys of
    its own frame in the ``radius`` semitones below it (only keys < k, so
    the product over keys stays a distribution), and, folded into pitch
    classes counted from k's own (so that "a major third below sounds" is
    one feature at every height): the previous frame, the keys below k in
    this frame and, with ``tonal``, how often each pitch class has sounded
    so far in the piece (the key, heard from k). Shared weights make these
    features transposition-equivariant, which the MADE's dense layers must
    learn key by key from a few hundred pieces; a learned vector per key and
    the RNN state, added to the hidden units, say where on the keyboard and
    where in the piece.
    """

    def __init__(self, keys: int, context: int, radius: int, hidden: int, dropout: float = 0.0,
                 tonal: bool = False, layers: int = 1):
        super().__init__()
        self.keys, self.radius, self.tonal = keys, radius, tonal
        self.drop = nn.Dropout(dropout)
        self.register_buffer("pitch_class", pitch_classes(keys), persistent=False)
        # rotate[k, j]: the pitch class j semitones above key k's
        self.register_buffer("rotate", (self.pitch_class.argmax(-1)[:, None] + torch.arange(12)) % 12,
                             persistent=False)
        self.local = nn.Linear(2 * radius + 1 + radius + (36 if tonal else 24), hidden)
        self.position = nn.Parameter(torch.zeros(keys, hidden))
        self.context = nn.Linear(context, hidden, bias=False)
        self.deeper = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, 1)

    def _relative(self, chroma):
        """``[..., keys, 12]`` pitch classes -> the same, entry j counted j semitones above key k's."""
        return torch.gather(chroma, -1, self.rotate.expand_as(chroma))

    def _every_key(self, chroma):
        return self._relative(chroma.unsqueeze(-2).expand(*chroma.shape[:-1], self.keys, 12))

    def forward(self, x, previous, history, c):
        """Logits ``[..., keys]``; entry k depends on ``x[..., :k]``, ``previous``, ``history`` and ``c`` only."""
        r = self.radius
        around = nn.functional.pad(previous, (r, r)).unfold(-1, 2 * r + 1, 1)  # [..., keys, 2r+1]
        below = nn.functional.pad(x, (r, 0)).unfold(-1, r, 1)[..., :self.keys, :]  # x[k-r .. k-1]
        # pitch classes of keys < k in this frame: a running count, shifted by one key
        running = torch.cumsum(x.unsqueeze(-1) * self.pitch_class, dim=-2)  # [..., keys, 12]: keys <= k
        chroma_below = torch.cat([torch.zeros_like(running[..., :1, :]), running[..., :-1, :]], dim=-2)
        features = [around, below, self._every_key((previous @ self.pitch_class).clamp(max=1)),
                    self._relative(chroma_below.clamp(max=1))]
        if self.tonal:
            features.append(self._every_key(history))
        h = torch.relu(self.local(torch.cat(features, dim=-1)) + self.position + self.context(c).unsqueeze(-2))
        for layer in self.deeper:
            h = torch.relu(layer(self.drop(h)))
        return self.out(self.drop(h)).squeeze(-1)


class FrameNet(nn.Module):
    """A GRU over frames 0..t-1; over the keys of frame t, a MADE (or NADE) plus the key network."""

    def __init__(self, keys: int, hidden: int, layers: int, made_hidden: int, made_layers: int, dropout: float,
                 skip: bool = False, output: str = "made", made_dropout: float = 0.0, local: int = 0,
                 local_hidden: int = 64, tonal: bool = False, local_layers: int = 1):
        super().__init__()
        self.keys, self.skip, self.tonal = keys, skip, tonal
        self.embed = nn.Linear(keys, hidden)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        context = hidden + (keys if skip else 0) + (12 if tonal else 0)
        if tonal:
            self.register_buffer("pitch_class", pitch_classes(keys), persistent=False)
        # The distribution of one frame's keys given the context: a MADE or a NADE (runs saved
        # when this was called ``made`` are renamed as they load).
        self.frame_model = (NADE(keys, context, made_hidden, made_dropout) if output == "nade"
                            else MADE(keys, context, made_hidden, made_layers, made_dropout))
        self.local = (KeyNeighbourhood(keys, context, local, local_hidden, made_dropout, tonal, local_layers)
                      if local else None)

    def context(self, rolls, state=None):
        """``rolls [B, T, keys]`` -> contexts ``[B, T, C]``; context t has seen frames < t.

        A context is the GRU's output, then (``skip``) the previous frame and
        (``tonal``) the share of frames < t in which each pitch class sounded.
        """
        shifted = torch.cat([torch.zeros_like(rolls[:, :1]), rolls[:, :-1]], dim=1)  # frame 0 follows silence
        out, state = self.gru(self.drop(torch.relu(self.embed(shifted))), state)
        parts = [self.drop(out)]
        if self.skip:  # the previous frame, unprocessed: held notes are the commonest thing to predict
            parts.append(shifted)
        if self.tonal:
            seen = torch.arange(rolls.shape[1], device=rolls.device).clamp(min=1)[:, None]
            parts.append(torch.cumsum((shifted @ self.pitch_class).clamp(max=1), dim=1) / seen)
        return torch.cat(parts, dim=-1), state

    def key_logits(self, x, context):
        """Logits of the keys of frames ``x`` given their contexts; entry k sees ``x[..., :k]`` only."""
        logits = self.frame_model(x, context)
        if self.local is not None:  # the context ends with [previous frame, tonal history]
            end = context.shape[-1] - (12 if self.tonal else 0)
            logits = logits + self.local(x, context[..., end - self.keys:end], context[..., end:], context)
        return logits

    def frame_log_prob(self, rolls, lengths=None):
        """``[B, T]``: log p(frame t | frames < t), exact (the sum of the key conditionals).

        With ``lengths``, frames past a piece's length are left at 0 and not
        computed: in a batch padded to its longest piece they are about 40%
        of the frames, and the per-key networks are most of the cost.
        """
        context = self.context(rolls)[0]
        if lengths is None:
            logits = self.key_logits(rolls, context)
            return -nn.functional.binary_cross_entropy_with_logits(logits, rolls, reduction="none").sum(-1)
        real = torch.arange(rolls.shape[1], device=rolls.device)[None, :] < lengths.to(rolls.device)[:, None]
        x = rolls[real]  # [frames, keys]
        logits = self.key_logits(x, context[real])
        logp = torch.zeros(rolls.shape[:2], dtype=logits.dtype, device=rolls.device)
        logp[real] = -nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        return logp


# --- data -----------------------------------------------------------------------------------------

class RollSet(torch.utils.data.Dataset):
    """Pieces as ``T x 88`` rolls; with ``augment``, a random window and transposition each time.

    The random draws use numpy's global generator, which the engine reseeds
    from (seed, epoch) at the start of every epoch, so a resumed run draws
    the same windows and transpositions.
    """

    def __init__(self, rolls: list[np.ndarray], max_frames: int | None, transpose: int, augment: bool):
        self.rolls, self.max_frames, self.transpose, self.augment = rolls, max_frames, transpose, augment

    def __len__(self):
        return len(self.rolls)

    def __getitem__(self, i):
        roll = self.rolls[i]
        if not self.augment:
            return roll
        if self.max_frames and roll.shape[0] > self.max_frames:
            start = np.random.randint(0, roll.shape[0] - self.max_frames + 1)
            roll = roll[start:start + self.max_frames]
        if self.transpose:
            keys = np.flatnonzero(roll.any(axis=0))
            low, high = (-keys.min(), PIANO_KEYS - 1 - keys.max()) if keys.size else (0, 0)
            shift = np.random.randint(max(-self.transpose, low), min(self.transpose, high) + 1)
            roll = np.roll(roll, shift, axis=1)  # nothing wraps: the shift keeps every note on the keyboard
        return roll


def pad_rolls(rolls: list[np.ndarray]):
    lengths = torch.tensor([r.shape[0] for r in rolls])
    batch = torch.zeros(len(rolls), int(lengths.max()), PIANO_KEYS)
    for i, r in enumerate(rolls):
        batch[i, :r.shape[0]] = torch.from_numpy(np.asarray(r, dtype=np.float32))
    return batch, lengths


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

    @torch.no_grad()
    def frame_log_prob(self, roll: np.ndarray) -> np.ndarray:
        """``[T]``: entry t is log p(roll[t] | roll[:t]) in nats (entry 0 given an empty past).

        With ``mixture`` m the model is p(x) = mean_s p_net(x shifted by s)
        over the 2m+1 shifts s in -m..m (cyclic along the keyboard, so each
        component is a distribution too), and entry t is its exact
        conditional: the components are weighted by how well each has
        predicted frames < t, and entries sum to log p(x).
        """
        self._check_fitted()
        roll = _as_roll(roll)
        if roll.shape[0] == 0:
            return np.zeros(0)
        shifts = range(-self.config.mixture, self.config.mixture + 1)
        x = torch.from_numpy(np.stack([np.roll(roll, s, axis=1) for s in shifts]).astype(np.float32))
        logp = self.net_.eval().frame_log_prob(x).double()  # [components, T]
        before = torch.cumsum(logp, dim=1) - logp  # log p_s(frames < t)
        return (torch.logsumexp(before + logp, dim=0) - torch.logsumexp(before, dim=0)).numpy()

    @torch.no_grad()
    def predict_frames(self, roll: np.ndarray) -> np.ndarray:
        """``[T, 88]`` 0/1: frame t guessed from roll[:t], key by key, each key on when p >= 0.5
        given the keys already guessed below it (greedy; a NADE has no tractable marginals)."""
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

    @torch.no_grad()
    def _generate_one(self, rng: np.random.Generator, options) -> symusic.Score:
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
        renamed = {("frame_model." + k[len("made."):] if k.startswith("made.") else k): v for k, v in arrays.items()}
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in renamed.items()})
        self.net_ = net.eval()


def _old_name(name: str) -> str:
    """A tensor's name in runs saved while the frame model was called ``made``."""
    return "made." + name[len("frame_model."):] if name.startswith("frame_model.") else name
