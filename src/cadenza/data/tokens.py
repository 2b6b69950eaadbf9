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
- **Transposition** at the id level (Pitch and Key tokens move together),
  before BPE, for augmenting training windows (``token_windows.py``).
- **Expansions** of every id into base tokens, for the grammar mask that
  keeps samples decodable (``token_grammar.py``).

REMI bars here are miditok's 4/4 bars (time-signature tokens are off); the
meter of a piece is a conditioning token instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import symusic

from cadenza.errors import CadenzaError
from cadenza.music.theory import (
    TONIC_NAMES,
    TPQ,
    estimate_key,
    make_score,
    parse_key,
    score_pitches,
    signature_key,
)

SCHEMES = ("REMI", "TSD")
STYLES = ("essen", "bach", "ryans", "oneill", "palestrina", "other")
KEY_NAMES = TONIC_NAMES + tuple(t + "m" for t in TONIC_NAMES)  # the 24 key tokens: Key_C ... Key_Bbm
METERS = ("2/4", "3/4", "4/4", "6/8", "3/8", "2/2", "3/2", "6/4", "9/8", "12/8", "other")
CONDITIONS = ("Style", "Key", "Meter")

def score_key_name(score: symusic.Score) -> str:
    """``"D"`` or ``"Em"``: the key token name of the first key signature, else of the
    Krumhansl-Schmuckler estimate."""
    key = signature_key(score) or estimate_key(*score_pitches(score))
    return key_name(key.tonic, key.minor)


def meter_of(score: symusic.Score) -> str:
    if not len(score.time_signatures):
        return "4/4"
    sig = score.time_signatures[0]
    text = f"{sig.numerator}/{sig.denominator}"
    return text if text in METERS else "other"


def key_name(tonic: int, minor: bool) -> str:
    return TONIC_NAMES[tonic % 12] + ("m" if minor else "")


def flatten(score: symusic.Score, melody_only: bool) -> symusic.Score:
    """One pitched track: the top voice (melody models) or every part merged (chorales)."""
    from cadenza.music.transforms import melody

    if melody_only:
        return melody(score)
    notes = [n.copy() for t in score.tracks if not t.is_drum for n in t.notes]
    return make_score(sorted(notes, key=lambda n: (n.time, n.pitch)), name="Parts", like=score)


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
                specials += [f"Style_{s}" for s in STYLES] + [f"Key_{k}" for k in KEY_NAMES]
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
        return [f"Style_{style}", f"Key_{score_key_name(score)}", f"Meter_{meter_of(score)}"]

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
                tonic = TONIC_NAMES.index(name.rstrip("m"))
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

        expanded = self.expand(ids)
        base = [b for b in expanded if self.base_types[b] not in ("PAD", "BOS", "EOS", "Style", "Key", "Meter")]
        seq = TokSequence(ids=base, tokens=[self.base_names[b] for b in base])
        score = self.tok.decode([seq])
        score = score.resample(TPQ, min_dur=1)
        if not len(score.tracks):
            score.tracks.append(symusic.Track("Melody", 0, False))
        # the key and meter the sequence was conditioned on become the score's signatures (the notes
        # keep their times: REMI's bars are 4/4 grid bars whatever the meter)
        names = {self.base_types[b]: self.base_names[b].split("_", 1)[1] for b in reversed(expanded)
                 if self.base_types[b] in ("Key", "Meter")}
        if names.get("Meter", "other") != "other":
            top, bottom = names["Meter"].split("/")
            score.time_signatures = [symusic.TimeSignature(0, int(top), int(bottom))]
        if "Key" in names:
            key = parse_key(names["Key"])
            score.key_signatures = [symusic.KeySignature(0, key.fifths, 1 if key.minor else 0)]
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


def key_token(text: str) -> str:
    key = parse_key(text)
    return f"Key_{key_name(key.tonic, key.minor)}"


def style_token(text: str) -> str:
    if text not in STYLES:
        raise CadenzaError(f"unknown style {text!r} (choose from {', '.join(STYLES)})")
    return f"Style_{text}"


def meter_token(text: str) -> str:
    if text not in METERS:
        raise CadenzaError(f"unknown meter {text!r} (choose from {', '.join(METERS)})")
    return f"Meter_{text}"


def style_of(spec) -> str | None:
    """The style token of a corpus spec (``{"corpus": "essen", ...}``) or None."""
    if isinstance(spec, dict):
        name = spec.get("corpus") or spec.get("name")
        if isinstance(name, str) and name in STYLES:
            return name
        return "other" if name else None
    return None
