"""Scores as token sequences for the neural models: miditok plus what sampling needs.

Tokenization is miditok's (Fradet et al., "MidiTok: a Python package for
MIDI file tokenization", ISMIR LBD 2021): REMI by default (Huang & Yang,
"Pop Music Transformer", ACM MM 2020: Bar, Position, Pitch, Duration) or
TSD (TimeShift, Pitch, Duration), optionally with BPE merges learnt on the
training corpus (Fradet et al., "Byte pair encoding for symbolic music",
EMNLP 2023). Around it Cadenza adds:

- **Conditioning tokens** at the start of every sequence, in a fixed order:
  ``Style_<corpus>``, ``Key_<tonic>[m]`` (from the score's key signature,
  else the Krumhansl-Kessler profiles) and ``Meter_<n>/<d>``. They are
  miditok special tokens, so BPE never merges them.
- **Transposition augmentation** on the training windows only, at the id
  level (Pitch and Key tokens move together), before BPE.
- **Chunking** of long pieces into fixed-length windows.
- **A grammar mask**: a small state machine over token types (Bar, Position,
  Pitch, Velocity, Duration, TimeShift, the conditioning tokens, EOS) that
  says which ids may come next, so that sampling with the mask on only ever
  yields sequences that decode to a valid Score (every Pitch followed by its
  Duration, positions rising within a bar, EOS only after a whole note).
  Under BPE an id is allowed when its whole expansion walks through the
  machine. The same machine carries the key/range constraints and the
  length in notes or bars.

REMI bars here are miditok's 4/4 bars (time-signature tokens are off); the
meter of a piece is a conditioning token instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import symusic
import torch

from cadenza.errors import CadenzaError

SCHEMES = ("REMI", "TSD")
STYLES = ("essen", "bach", "ryans", "oneill", "palestrina", "other")
TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEYS = tuple(t for t in TONICS) + tuple(t + "m" for t in TONICS)
METERS = ("2/4", "3/4", "4/4", "6/8", "3/8", "2/2", "3/2", "6/4", "9/8", "12/8", "other")
CONDITIONS = ("Style", "Key", "Meter")
TPQ = 480
IGNORE = -100  # label of padding: PyTorch's cross-entropy ignore_index

# Krumhansl & Kessler (1982) key profiles, tonic first.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(score: symusic.Score) -> str:
    """``"D"`` or ``"Em"``: the first key signature, else the best-correlated K-K profile."""
    if len(score.key_signatures):
        sig = score.key_signatures[0]
        minor = int(sig.tonality) == 1
        tonic = (int(sig.key) * 7 + (9 if minor else 0)) % 12
        return TONICS[tonic] + ("m" if minor else "")
    weights = np.zeros(12)
    for track in score.tracks:
        if not track.is_drum:
            for note in track.notes:
                weights[note.pitch % 12] += note.duration
    if not weights.any():
        return "C"
    best, name = -2.0, "C"
    for tonic in range(12):
        for profile, suffix in ((_MAJOR, ""), (_MINOR, "m")):
            r = np.corrcoef(weights, np.roll(profile, tonic))[0, 1]
            if r > best:
                best, name = r, TONICS[tonic] + suffix
    return name


def meter_of(score: symusic.Score) -> str:
    if not len(score.time_signatures):
        return "4/4"
    sig = score.time_signatures[0]
    text = f"{sig.numerator}/{sig.denominator}"
    return text if text in METERS else "other"


def key_name(tonic: int, minor: bool) -> str:
    return TONICS[tonic % 12] + ("m" if minor else "")


def flatten(score: symusic.Score, melody_only: bool) -> symusic.Score:
    """One pitched track: the top voice (melody models) or every part merged (chorales)."""
    from cadenza.music.transforms import melody

    if melody_only:
        return melody(score)
    out = symusic.Score(score.ticks_per_quarter)
    out.tempos = score.tempos.copy()
    out.time_signatures = score.time_signatures.copy()
    out.key_signatures = score.key_signatures.copy()
    notes = [n.copy() for t in score.tracks if not t.is_drum for n in t.notes]
    out.tracks.append(symusic.Track("Parts", 0, False, sorted(notes, key=lambda n: (n.time, n.pitch))))
    return out


@dataclass
class TokenizerSpec:
    """How pieces become tokens (stored in cadenza.json beside miditok's own file)."""

    scheme: str = "REMI"
    melody: bool = True  # top voice only, else all parts in one stream
    conditions: bool = True
    bpe_vocab: int = 0  # 0: no BPE; else the vocabulary size to learn
    velocities: bool = False

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise CadenzaError(f"tokenizer {self.scheme!r} is not supported (choose from {', '.join(SCHEMES)})")


class MusicTokenizer:
    """A miditok tokenizer plus the conditioning tokens, BPE expansions and grammar tables."""

    def __init__(self, spec: TokenizerSpec, miditok_tokenizer=None):
        import miditok

        self.spec = spec
        if miditok_tokenizer is None:
            specials = ["PAD", "BOS", "EOS"]
            if spec.conditions:
                specials += [f"Style_{s}" for s in STYLES] + [f"Key_{k}" for k in KEYS]
                specials += [f"Meter_{m}" for m in METERS]
            config = miditok.TokenizerConfig(
                use_velocities=spec.velocities, use_time_signatures=False, use_tempos=False,
                use_rests=False, use_chords=False, use_programs=False, special_tokens=specials,
                beat_res={(0, 4): 8, (4, 12): 4}, num_velocities=8, pitch_range=(21, 109))
            miditok_tokenizer = getattr(miditok, spec.scheme)(config)
        self.tok = miditok_tokenizer
        self._index()

    # --- vocabulary ----------------------------------------------------------------

    def _index(self) -> None:
        base = self.tok._vocab_base  # token string -> base id
        self.base_names = [None] * len(base)
        for name, i in base.items():
            self.base_names[i] = name
        self.base_types = [n.split("_", 1)[0] for n in self.base_names]
        self.pad, self.bos, self.eos = base["PAD_None"], base["BOS_None"], base["EOS_None"]
        self.vocab_size = len(self.tok)
        # every id -> its base ids (itself without BPE)
        if self.tok.is_trained:
            from miditok import TokSequence

            self.expansion = []
            for i in range(self.vocab_size):
                seq = TokSequence(ids=[i], are_ids_encoded=True)
                self.tok.decode_token_ids(seq)
                self.expansion.append(list(seq.ids))
        else:
            self.expansion = [[i] for i in range(self.vocab_size)]
        self.pitch_of = {i: int(n.split("_")[1]) for i, n in enumerate(self.base_names) if n.startswith("Pitch_")}
        self.position_of = {i: int(n.split("_")[1]) for i, n in enumerate(self.base_names)
                            if n.startswith("Position_")}
        # transposition at the id level: Pitch_p -> Pitch_{p+s}, Key_X -> Key_{X+s}
        self._pitch_id = {p: i for i, p in self.pitch_of.items()}
        self._key_id = {n[4:]: i for i, n in enumerate(self.base_names) if n.startswith("Key_")}

    def condition_ids(self, kind: str) -> list[int]:
        return [i for i, t in enumerate(self.base_types) if t == kind]

    def id_of(self, name: str) -> int:
        base = self.tok._vocab_base
        if name not in base:
            raise CadenzaError(f"token {name!r} is not in this tokenizer's vocabulary")
        return base[name]

    # --- encoding --------------------------------------------------------------------

    def conditions(self, score: symusic.Score, style: str | None) -> list[str]:
        if not self.spec.conditions:
            return []
        style = style if style in STYLES else "other"
        return [f"Style_{style}", f"Key_{estimate_key(score)}", f"Meter_{meter_of(score)}"]

    def encode_base(self, score: symusic.Score, style: str | None = None, eos: bool = True) -> list[int]:
        """BOS, conditioning tokens, the piece's base tokens, EOS."""
        flat = flatten(score, self.spec.melody)
        seqs = self.tok.encode(flat, encode_ids=False)
        seq = seqs[0] if isinstance(seqs, list) else seqs
        body = [i for i in seq.ids if i not in (self.pad, self.bos, self.eos)]
        head = [self.bos] + [self.id_of(c) for c in self.conditions(flat, style)]
        return head + body + ([self.eos] if eos else [])

    def bpe(self, base_ids: list[int]) -> list[int]:
        """Apply the learnt merges (identity without BPE); special tokens stay as they are."""
        if not self.tok.is_trained:
            return list(base_ids)
        from miditok import TokSequence

        out, run = [], []
        specials = set(self.tok.special_tokens_ids)
        for i in list(base_ids) + [None]:
            if i is None or i in specials:
                if run:
                    seq = TokSequence(ids=run)
                    self.tok.complete_sequence(seq)
                    self.tok.encode_token_ids(seq)
                    out.extend(seq.ids)
                    run = []
                if i is not None:
                    out.append(i)
            else:
                run.append(i)
        return out

    def encode(self, score: symusic.Score, style: str | None = None, eos: bool = True) -> list[int]:
        return self.bpe(self.encode_base(score, style, eos))

    def transpose_base(self, base_ids: list[int], semitones: int) -> list[int] | None:
        """Shift Pitch and Key tokens; None when a pitch would leave the vocabulary."""
        if semitones == 0:
            return list(base_ids)
        out = []
        for i in base_ids:
            if i in self.pitch_of:
                j = self._pitch_id.get(self.pitch_of[i] + semitones)
                if j is None:
                    return None
                out.append(j)
            elif self.base_types[i] == "Key":
                name = self.base_names[i][4:]
                minor = name.endswith("m")
                tonic = TONICS.index(name.rstrip("m"))
                out.append(self._key_id[key_name(tonic + semitones, minor)])
            else:
                out.append(i)
        return out

    def train_bpe(self, pieces: list[symusic.Score], style: str | None = None) -> None:
        """Learn ``spec.bpe_vocab`` ids of BPE merges on the training pieces."""
        if self.spec.bpe_vocab <= 0:
            return
        if self.spec.bpe_vocab <= len(self.base_names):
            raise CadenzaError(f"bpe_vocab must exceed the {len(self.base_names)} base tokens, "
                               f"got {self.spec.bpe_vocab}")
        tok = self.tok
        texts = []
        for score in pieces:
            from miditok import TokSequence

            ids = [i for i in self.encode_base(score, style, eos=False) if self.base_types[i] not in
                   ("BOS", "Style", "Key", "Meter")]
            seq = TokSequence(ids=ids, tokens=[self.base_names[i] for i in ids])
            chunks = seq.split_per_bars() if tok.config.encode_ids_split == "bar" else [seq]
            texts.append([tok._ids_to_bytes(c.ids, as_one_str=True) for c in chunks if len(c.ids)])
        tok.train(vocab_size=self.spec.bpe_vocab, model="BPE", iterator=texts)
        self._index()

    # --- decoding ----------------------------------------------------------------------

    def expand(self, ids) -> list[int]:
        return [b for i in ids for b in self.expansion[int(i)]]

    def decode(self, ids) -> symusic.Score:
        """A one-track Score at 480 ticks a quarter from ids (BPE or base); specials are dropped."""
        from miditok import TokSequence

        base = [b for b in self.expand(ids) if self.base_types[b] not in
                ("PAD", "BOS", "EOS", "Style", "Key", "Meter")]
        seq = TokSequence(ids=base, tokens=[self.base_names[b] for b in base])
        score = self.tok.decode([seq])
        score = score.resample(TPQ, min_dur=1)
        if not len(score.tracks):
            score.tracks.append(symusic.Track("Melody", 0, False))
        return score

    def notes_in(self, ids) -> int:
        return sum(1 for b in self.expand(ids) if b in self.pitch_of)

    # --- files ------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        self.tok.save(Path(directory) / "tokenizer.json")

    @classmethod
    def load(cls, directory: Path, spec: TokenizerSpec) -> MusicTokenizer:
        import miditok

        path = Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise CadenzaError(f"{directory}: no tokenizer.json (the miditok tokenizer) in the run directory")
        try:
            scheme = json.loads(path.read_text())["tokenization"]
            tok = getattr(miditok, scheme)(params=path)
        except (ValueError, KeyError, AttributeError) as exc:
            raise CadenzaError(f"{path}: not a miditok tokenizer ({exc})") from None
        return cls(TokenizerSpec(**{**spec.__dict__, "scheme": scheme}), tok)

    def fingerprint(self) -> str:
        """Equal for tokenizers that map the same tokens to the same ids."""
        import hashlib

        text = json.dumps([self.base_names, [list(e) for e in self.expansion]])
        return hashlib.sha1(text.encode()).hexdigest()[:16]


# --- datasets ------------------------------------------------------------------------------

class TokenWindows(torch.utils.data.Dataset):
    """Fixed-length training windows over tokenized pieces, transposed at random on train.

    Item: ``context + 1`` ids (inputs and next-token targets), padded with
    PAD. A piece longer than a window is cut into consecutive windows.
    """

    def __init__(self, tokenizer: MusicTokenizer, pieces_base: list[list[int]], context: int,
                 transpose: int = 0):
        self.tokenizer, self.context, self.transpose = tokenizer, context, transpose
        self.pieces = pieces_base
        self.windows = []
        for p, base in enumerate(pieces_base):
            length = len(tokenizer.bpe(base)) if tokenizer.tok.is_trained else len(base)
            for start in range(0, max(length - 1, 1), context):
                self.windows.append((p, start))

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> torch.Tensor:
        p, start = self.windows[index]
        base = self.pieces[p]
        if self.transpose:
            # the engine seeds numpy at each epoch, so this draw repeats after a resume
            for _ in range(4):
                moved = self.tokenizer.transpose_base(base, int(np.random.randint(-self.transpose,
                                                                                  self.transpose + 1)))
                if moved is not None:
                    base = moved
                    break
        ids = self.tokenizer.bpe(base) if self.tokenizer.tok.is_trained else base
        window = ids[start:start + self.context + 1]
        out = torch.full((self.context + 1,), self.tokenizer.pad, dtype=torch.long)
        out[:len(window)] = torch.tensor(window, dtype=torch.long)
        return out


def collate_windows(pad: int):
    def collate(items):
        batch = torch.stack(items)  # [B, T+1]
        inputs, labels = batch[:, :-1], batch[:, 1:].clone()
        labels[labels == pad] = IGNORE
        return {"input_ids": inputs, "labels": labels, "attention_mask": (inputs != pad).long()}
    return collate


def check_batch(windows: TokenWindows, batch_size: int, name: str) -> None:
    if len(windows) < batch_size:
        raise CadenzaError(f"{name}: the corpus is too small for one batch ({len(windows)} training windows "
                           f"of {windows.context} tokens, batch_size {batch_size}); "
                           f"use more pieces or a smaller --batch-size")


# --- the grammar mask ----------------------------------------------------------------

@dataclass(frozen=True)
class State:
    """Where a sequence stands: the last base token type and what the rules need to remember."""

    prev: str = "BOS"
    conditions_done: int = 0
    position: int = -1  # last Position in the current bar (REMI)
    notes: int = 0
    bars: int = 0
    idle: int = 0  # Bar/TimeShift tokens since the last note


MAX_IDLE = 8  # at most this many empty bars (or time shifts) in a row: a sampler cannot wander off in silence


@dataclass
class Grammar:
    """Which ids may come next, for one tokenizer and one set of constraints.

    ``pitches``: the allowed MIDI pitches (key and range constraints);
    ``max_bars``: the Bar that would start bar ``max_bars + 1`` becomes EOS;
    ``max_notes``: after that many notes only EOS may follow a whole note.
    """

    tokenizer: MusicTokenizer
    pitches: frozenset | None = None
    max_bars: int | None = None
    max_notes: int | None = None
    _cache: dict = field(default_factory=dict)

    def __post_init__(self):
        t = self.tokenizer
        self.conditions = list(CONDITIONS) if t.spec.conditions else []
        if self.pitches is not None and not any(p in self.pitches for p in t.pitch_of.values()):
            raise CadenzaError("the key and range constraints leave no pitch to play")
        self.remi = t.spec.scheme == "REMI"
        self.velocity = t.spec.velocities
        self.monophonic = t.spec.melody

    def start(self) -> State:
        return State()

    def walk_base(self, state: State, b: int) -> State | None:
        """The state after base token ``b``, or None when ``b`` may not come next."""
        t = self.tokenizer
        kind = t.base_types[b]
        prev = state.prev
        if prev == "EOS" or kind in ("PAD", "BOS"):
            return None
        if state.conditions_done < len(self.conditions):
            if kind != self.conditions[state.conditions_done]:
                return None
            return State(kind, state.conditions_done + 1, -1, state.notes, state.bars, state.idle)
        at_start = prev in ("BOS",) + CONDITIONS
        if kind in CONDITIONS:
            return None
        if kind == "EOS":
            return State("EOS", state.conditions_done, state.position, state.notes, state.bars) \
                if prev == "Duration" else None
        if kind == "Pitch":
            if self.pitches is not None and t.pitch_of[b] not in self.pitches:
                return None
            # a melody has one note an onset: no Pitch straight after a Duration
            after_note = () if self.monophonic else ("Duration",)
            ok = prev in ("Position",) + after_note if self.remi else prev in ("TimeShift",) + after_note or at_start
            if not ok:
                return None
            if self.max_notes is not None and state.notes >= self.max_notes:
                return None
            return State(kind, state.conditions_done, state.position, state.notes + 1, state.bars, 0)
        if kind == "Velocity":
            return State(kind, state.conditions_done, state.position, state.notes, state.bars) \
                if prev == "Pitch" and self.velocity else None
        if kind == "Duration":
            ok = prev == ("Velocity" if self.velocity else "Pitch")
            return State(kind, state.conditions_done, state.position, state.notes, state.bars) if ok else None
        if self.max_notes is not None and state.notes >= self.max_notes:
            return None  # only EOS (or chord notes, refused above) once the notes are there
        if kind == "Bar":
            if not self.remi or not (at_start or prev in ("Bar", "Duration")):
                return None
            if self.max_bars is not None and state.bars >= self.max_bars or state.idle >= MAX_IDLE:
                return None
            return State(kind, state.conditions_done, -1, state.notes, state.bars + 1, state.idle + 1)
        if kind == "Position":
            position = t.position_of[b]
            if not self.remi or prev not in ("Bar", "Duration") or position <= state.position:
                return None
            return State(kind, state.conditions_done, position, state.notes, state.bars, state.idle)
        if kind == "TimeShift":
            if self.remi or not (at_start or prev in ("Duration", "TimeShift")) or state.idle >= MAX_IDLE:
                return None
            return State(kind, state.conditions_done, -1, state.notes, state.bars, state.idle + 1)
        return None

    def walk(self, state: State, token: int) -> State | None:
        for b in self.tokenizer.expansion[token]:
            state = self.walk_base(state, b)
            if state is None:
                return None
        return state

    def _key(self, state: State):
        # the counts matter only near their limits
        notes = None if self.max_notes is None else min(self.max_notes - state.notes, 8)
        bars = None if self.max_bars is None else min(self.max_bars - state.bars, 4)
        return (state.prev, state.conditions_done, state.position, notes, bars, state.idle >= MAX_IDLE)

    def mask(self, state: State) -> np.ndarray:
        """Boolean mask over the vocabulary: the ids allowed after ``state`` (never all False)."""
        key = self._key(state)
        cached = self._cache.get(key)
        if cached is None:
            cached = np.array([self.walk(state, i) is not None for i in range(self.tokenizer.vocab_size)])
            if not cached.any():
                # a limit reached mid-bar with no note group to close: end the piece
                cached = np.zeros(self.tokenizer.vocab_size, dtype=bool)
                cached[self.tokenizer.eos] = True
            self._cache[key] = cached
        return cached

    def finish_anyway(self, state: State) -> bool:
        """Whether EOS is allowed now (a whole note has just ended)."""
        return state.prev == "Duration"

    def run(self, ids) -> State:
        state = self.start()
        ids = list(ids)
        if ids and ids[0] == self.tokenizer.bos:
            ids = ids[1:]  # the start state is "after BOS"
        for i in ids:
            nxt = self.walk(state, int(i))
            if nxt is None:
                raise CadenzaError(f"token {self.tokenizer.base_names[self.tokenizer.expansion[int(i)][0]]!r} "
                                   f"breaks the token grammar here")
            state = nxt
        return state


def pitch_constraint(key: str | None, low: int | None, high: int | None) -> frozenset | None:
    """Allowed MIDI pitches for a key (e.g. 'D minor', raised leading tone allowed) and a range."""
    if key is None and low is None and high is None:
        return None
    allowed = set(range(low if low is not None else 0, (high if high is not None else 127) + 1))
    if key is not None:
        scale = parse_key(key)
        classes = {(scale[0] + s) % 12 for s in scale[2]}
        if scale[1]:
            classes.add((scale[0] + 11) % 12)
        allowed = {p for p in allowed if p % 12 in classes}
    return frozenset(allowed)


def parse_key(text: str) -> tuple[int, bool, tuple[int, ...]]:
    """``'D minor'`` / ``'Dm'`` / ``'G'`` -> (tonic, minor, scale steps)."""
    from cadenza.music.scales import MODES, mode_name, parse_pitch_class

    text = text.strip()
    parts = text.split()
    if len(parts) == 1 and len(text) >= 2 and text.endswith("m") and text[:-1] not in ("",):
        parts = [text[:-1], "minor"]
    tonic = parse_pitch_class(parts[0])
    mode = mode_name(parts[1]) if len(parts) > 1 else "major"
    if mode not in MODES:
        raise CadenzaError(f"unknown mode in key {text!r}")
    minor = MODES[mode][2] == 3
    return tonic, minor, MODES[mode]


def key_token(text: str) -> str:
    tonic, minor, _ = parse_key(text)
    return f"Key_{key_name(tonic, minor)}"


def style_token(text: str) -> str:
    if text not in STYLES:
        raise CadenzaError(f"unknown style {text!r} (choose from {', '.join(STYLES)})")
    return f"Style_{text}"


def meter_token(text: str) -> str:
    if text not in METERS:
        raise CadenzaError(f"unknown meter {text!r} (choose from {', '.join(METERS)})")
    return f"Meter_{text}"


# --- sampling -----------------------------------------------------------------------------

def sample_next(logits: np.ndarray, allowed: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int = 0, top_p: float = 1.0) -> int:
    """One id from ``logits`` restricted to ``allowed``, with temperature, top-k and top-p."""
    z = np.where(allowed, logits.astype(np.float64) / temperature, -np.inf)
    if top_k and top_k < allowed.sum():
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))


def style_of(spec) -> str | None:
    """The style token of a corpus spec (``{"corpus": "essen", ...}``) or None."""
    if isinstance(spec, dict):
        name = spec.get("corpus") or spec.get("name")
        if isinstance(name, str) and name in STYLES:
            return name
        return "other" if name else None
    return None


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)
