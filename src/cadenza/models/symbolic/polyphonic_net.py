"""The polyphonic frame model's network and its training data (torch modules and a torch Dataset).

The model, its options and its references are in
:mod:`cadenza.models.symbolic.polyphonic`: the task is that of
N. Boulanger-Lewandowski, Y. Bengio and P. Vincent, "Modeling Temporal
Dependencies in High-Dimensional Sequences: Application to Polyphonic Music
Generation and Transcription", ICML 2012. Here are the GRU over past frames
with a MADE or a NADE (Larochelle & Murray, AISTATS 2011) over the keys of the
next frame (:class:`FrameNet`), the pitch-tied key network after D. D. Johnson,
EvoMUSART 2017 (:class:`KeyNeighbourhood`) and the piano-roll dataset
(:class:`RollSet`). They live apart from the model so that listing the models
(``cadenza generate --help``) does not import torch; the model imports this
module when it builds a network.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cadenza.data.polyphonic import PIANO_KEYS
from cadenza.nn.made import MADE, MaskedLinear

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
