"""The kinds of step a recipe can chain: one small function each, with its options and types.

A step kind declares what it takes in (``score`` or ``audio``, one input or several),
what it gives out (``score``, ``audio`` or ``metrics``), its options as a dataclass of
:func:`cadenza.config.option` fields (help text, defaults, ranges: the same machinery as a
model's config, so a typo is one clear line), a ``check`` that looks at everything it
can before any work is done (does the model exist, can it do this?) and a ``run`` that
does the work. A new kind is one :func:`kind` registration: the recipe reader and the
runner read :data:`KINDS` (and a test checks that ``docs/recipes.md`` documents each kind).

The work itself belongs to the library: models through :func:`cadenza.create` /
:func:`cadenza.load`, scores through :mod:`cadenza.music`, audio through
:mod:`cadenza.audio`. This module only wires them together.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cadenza.config import build_dataclass, option
from cadenza.errors import CadenzaError

SCORE, AUDIO, METRICS = "score", "audio", "metrics"
ANY = (SCORE, AUDIO)


@dataclass
class Context:
    """What a running step may use besides its inputs: its seed, its folder and the runner's
    cache of loaded models (a run used by two steps is loaded once)."""

    name: str
    seed: int
    folder: Path
    models: dict = field(default_factory=dict)

    def load(self, run: str):
        """The model of run folder ``run`` (or ``pretrained/NAME``), loaded once a recipe."""
        from cadenza.models.base import load, resolve_run

        key = str(resolve_run(run).resolve())
        if key not in self.models:
            self.models[key] = load(run)
        return self.models[key]


@dataclass(frozen=True)
class StepKind:
    """One kind of step: its types, its options and the two functions behind it."""

    name: str
    help: str
    inputs: tuple[str, ...]  # the types an input may have; () for a step that takes none
    many: bool  # several inputs (``inputs = [...]``) rather than one (``input = "..."``)
    output: str  # score, audio or metrics; "model" when the model decides (see ``check``)
    Options: type
    run: Callable  # (context, options, inputs) -> the output
    # (options, where) -> the output type, raising CadenzaError for what is wrong; runs before any work
    check: Callable | None = None
    extra: Callable | None = None  # () -> a dataclass whose fields are also accepted as options
    tiny: dict = field(default_factory=dict)  # option values for a quick run (--tiny)

    def options(self, raw: dict, where: str):
        """``raw`` (a step's table less name, kind and inputs) as the kind's options, checked.
        Options of the ``extra`` dataclass come back in the options' ``extra`` dict."""
        own = {f.name for f in dataclasses.fields(self.Options)} - {"extra"}  # "extra" is filled here
        values = {k: v for k, v in raw.items() if k in own}
        rest = {k: v for k, v in raw.items() if k not in own}
        if self.extra is None:
            if rest:
                known = ", ".join(sorted(own))
                raise CadenzaError(f"{where}: unknown option {sorted(rest)[0]!r} of a {self.name} step "
                                   f"(known: {known})")
        else:
            _build(self.extra(), rest, f"{self.name} option", where)  # unknown names, types, ranges
            values["extra"] = rest
        return _build(self.Options, values, f"{self.name} option", where)


KINDS: dict[str, StepKind] = {}


def _build(cls: type, values: dict, what: str, where: str):
    """:func:`~cadenza.config.build_dataclass`, its error line starting with ``where``."""
    try:
        return build_dataclass(cls, values, what)
    except CadenzaError as exc:
        raise CadenzaError(f"{where}: {exc}") from None


def kind(name: str, inputs: tuple[str, ...] | str, output: str, Options: type, many: bool = False,
         check: Callable | None = None, extra: Callable | None = None, tiny: dict | None = None):
    """Register the decorated function as the ``run`` of step kind ``name``; its docstring's
    first line is the kind's help."""
    def register(run: Callable) -> Callable:
        doc = (run.__doc__ or "").strip().splitlines()
        KINDS[name] = StepKind(name, doc[0] if doc else "", (inputs,) if isinstance(inputs, str) else inputs,
                               many, output, Options, run, check, extra, dict(tiny or {}))
        return run
    return register


# --- models: which one a step names, checked before any work -------------------------------

def is_run_name(text: str) -> bool:
    """True when ``text`` names a run folder (a path, ``pretrained/NAME``) rather than a model to create."""
    return "/" in text or "\\" in text or text.startswith(".") or Path(text).exists()


def model_class(text: str, where: str) -> type:
    """The model class named by ``text``: a run folder's (read from its ``cadenza.json``, no
    weights) or a registered model's. A missing or broken run is one clear line."""
    from cadenza.models.base import get, run_class

    if not text:
        raise CadenzaError(f"{where}: needs a model (a run folder, pretrained/NAME, or a model name)")
    try:
        return run_class(text) if is_run_name(text) else get(text)
    except CadenzaError as exc:
        raise CadenzaError(f"{where}: {exc}") from None


def run_of(text: str, where: str, ability: type | None = None, what: str = "") -> type:
    """The class of run folder ``text``, which must be a run (not a model name) and, with
    ``ability``, declare it."""
    if not is_run_name(text):
        raise CadenzaError(f"{where}: model {text!r} must be a trained run folder or pretrained/NAME")
    cls = model_class(text, where)
    if ability is not None and not issubclass(cls, ability):
        raise CadenzaError(f"{where}: {text} is a {cls.name} model, which cannot {what}")
    return cls


# --- generate ---------------------------------------------------------------------------------

@dataclass
class GenerateOptions:
    model: str = option("", "A run folder, pretrained/NAME, or a registered model's name to create "
                            "(markov, lsystem, automaton, genetic, ...).")
    config: dict = option({}, "Config of a model created by name, e.g. {order = 3}.")
    corpus: str | None = option(None, "Corpus or folder to fit a created model on (essen, bach, ...); "
                                      "needed by models that learn.")
    split: Literal["train", "valid", "test", "all"] = option("train", "Split of the corpus to fit on.")
    max_pieces: int | None = option(None, "Fit on at most this many pieces of the corpus.", min=1, max=10_000_000)
    sampling: dict = option({}, "Generation options of the model: length, temperature, key, ...")
    seed: int = option(0, "Added to the recipe's seed.", min=0, max=2**31)
    tempo: float | None = option(None, "Set the piece's tempo (quarter notes a minute).", min=10, max=400)
    program: int | None = option(None, "Set the General MIDI program of its pitched tracks.", min=0, max=127)
    track: str | None = option(None, "Name its track (a one-track piece), e.g. Bass.")


def _check_generate(o: GenerateOptions, where: str) -> str:
    from cadenza.data.audio_sets import AUDIO_SETS
    from cadenza.data.corpora import CORPORA

    cls = model_class(o.model, where)
    created = not is_run_name(o.model)
    if not created and o.config:
        raise CadenzaError(f"{where}: config applies to a model created by name, not to the run {o.model}")
    if created:
        _build(cls.Config, o.config, f"{cls.name} option", where)
        if cls.needs_fit and not o.corpus:
            raise CadenzaError(f"{where}: {cls.name} learns from data: give corpus = \"NAME\" (e.g. essen, bach)")
    if o.corpus is not None:
        if not created:
            raise CadenzaError(f"{where}: corpus applies to a model created by name, not to the run {o.model}")
        if o.corpus not in CORPORA and o.corpus not in AUDIO_SETS and not Path(o.corpus).exists():
            raise CadenzaError(f"{where}: unknown corpus {o.corpus!r} (corpora: {', '.join(CORPORA)}; "
                               "or a folder of scores)")
    _build(cls.Sampling, o.sampling, f"{cls.name} sampling option", where)
    if cls.domain == "audio":
        if (o.tempo, o.program, o.track) != (None, None, None):
            raise CadenzaError(f"{where}: tempo, program and track apply to scores; {cls.name} makes audio")
        return AUDIO
    return SCORE


@kind("generate", (), "model", GenerateOptions, check=_check_generate, tiny={"max_pieces": 60})
def generate(ctx: Context, o: GenerateOptions, inputs: list):
    """A new piece from any model: a trained run, or one created by name (and fitted on a corpus)."""
    from cadenza.models.base import create
    from cadenza.workflow import training_data

    if is_run_name(o.model):
        model = ctx.load(o.model)
    else:
        model = create(o.model, **o.config)
        if o.corpus is not None:
            data = training_data(type(model), o.corpus, o.split, progress=False)
            if o.max_pieces is not None and len(data) > o.max_pieces:
                data = data[:o.max_pieces]
            model.fit(data)
    piece = model.generate(n=1, seed=ctx.seed, **o.sampling)[0]
    if model.domain == "audio":
        return piece
    piece = _retouch(piece, o.tempo, o.program)
    if o.track is not None:
        if len(piece.tracks) != 1:
            raise CadenzaError(f"track names a one-track piece; this one has {len(piece.tracks)} tracks")
        piece.tracks[0].name = o.track
    return piece


def _retouch(score, tempo: float | None, program: int | None):
    """``score`` with one tempo throughout and/or every pitched track on one program."""
    import symusic

    score = score.copy()
    if tempo is not None:
        score.tempos = [symusic.Tempo(0, float(tempo))]
    if program is not None:
        for track in score.tracks:
            if not track.is_drum:
                track.program = int(program)
    return score


# --- transforms of scores ---------------------------------------------------------------------

@dataclass
class TransposeOptions:
    semitones: int = option(0, "Semitones to shift every pitched track by.", min=-48, max=48)


@kind("transpose", SCORE, SCORE, TransposeOptions)
def transpose(ctx: Context, o: TransposeOptions, inputs: list):
    """Shift every pitched track by some semitones (drums stay)."""
    from cadenza.music.transforms import transpose as shift

    return shift(inputs[0], o.semitones)


@dataclass
class QuantizeOptions:
    grid: float = option(0.25, "Grid in quarter notes (0.25: sixteenths).", above=0, max=16)


@kind("quantize", SCORE, SCORE, QuantizeOptions)
def quantize(ctx: Context, o: QuantizeOptions, inputs: list):
    """Snap onsets and ends to a grid."""
    from cadenza.music.transforms import quantize as snap

    return snap(inputs[0], o.grid)


@dataclass
class TempoOptions:
    bpm: float = option(100.0, "Quarter notes a minute, throughout.", min=10, max=400)


@kind("tempo", SCORE, SCORE, TempoOptions)
def tempo(ctx: Context, o: TempoOptions, inputs: list):
    """Set one tempo throughout."""
    return _retouch(inputs[0], o.bpm, None)


@dataclass
class HarmonizeOptions:
    seed: int = option(0, "Added to the recipe's seed.", min=0, max=2**31)
    extra: dict = option({}, "Options of the genetic model (population, generations, key, chords_per_bar, ...).")


# Options of the genetic model that a harmonize step does not take: the step sets the task and
# the melody, and the rest only shape a generated melody.
_NOT_HARMONY = ("task", "melody", "bars", "step", "low", "high", "tempo")


def _harmony_options() -> type:
    from cadenza.models.symbolic.genetic import GeneticConfig

    return _subset(GeneticConfig, _NOT_HARMONY, "HarmonyOptions")


def _subset(config: type, left_out: tuple[str, ...], name: str) -> type:
    """A dataclass of the fields of ``config`` less ``left_out`` (their types resolved)."""
    hints = typing.get_type_hints(config)
    kept = [(f.name, hints[f.name], f) for f in dataclasses.fields(config) if f.name not in left_out]
    return dataclasses.make_dataclass(name, kept)


def _check_harmonize(o: HarmonizeOptions, where: str) -> str:
    from cadenza.models.symbolic.genetic import GeneticConfig

    if o.extra.get("likelihood_model"):
        run_of(str(o.extra["likelihood_model"]), where)
    # the whole config, with a stand-in melody: keys, weights and mutations are checked here
    _build(GeneticConfig, {**o.extra, "task": "harmonize", "melody": "melody.mid"}, "harmonize option", where)
    return SCORE


@kind("harmonize", SCORE, SCORE, HarmonizeOptions, check=_check_harmonize, extra=_harmony_options,
      tiny={"population": 12, "generations": 5})
def harmonize(ctx: Context, o: HarmonizeOptions, inputs: list):
    """Four-part harmony under the input's melody, evolved by the genetic algorithm."""
    from cadenza.models.base import create
    from cadenza.music.io import write_midi

    with tempfile.TemporaryDirectory() as folder:  # the genetic model reads its melody from a file
        melody = write_midi(inputs[0], Path(folder) / "melody.mid")
        model = create("genetic", task="harmonize", melody=str(melody), **o.extra)
        model.key()  # reads the melody now, while the file exists
        return model.generate(n=1, seed=ctx.seed)[0]


@dataclass
class ArrangeOptions:
    voices: int = option(4, "Voices to split the score into, top to bottom.", min=1, max=16)
    names: list[str] = option([], "Their track names (default: Soprano, Alto, Tenor, Bass for four, else Voice N).")
    programs: list[int] = option([], "Their General MIDI programs (default: the input's first program).",
                                 min=0, max=127)


@kind("arrange", SCORE, SCORE, ArrangeOptions)
def arrange(ctx: Context, o: ArrangeOptions, inputs: list):
    """Split the notes of all pitched tracks into voices, top to bottom (chorale parts)."""
    import symusic

    from cadenza.music.theory import make_score

    score = inputs[0]
    names = o.names or (["Soprano", "Alto", "Tenor", "Bass"] if o.voices == 4 else
                        [f"Voice {i + 1}" for i in range(o.voices)])
    if len(names) != o.voices or (o.programs and len(o.programs) != o.voices):
        raise CadenzaError(f"{ctx.name}: names and programs need one entry a voice ({o.voices})")
    pitched = [t for t in score.tracks if not t.is_drum]
    default_program = pitched[0].program if pitched else 0
    programs = o.programs or [default_program] * o.voices
    parts = [[] for _ in range(o.voices)]
    onsets: dict[int, list] = {}
    for track in pitched:
        for note in track.notes:
            onsets.setdefault(note.time, []).append(note)
    for time in sorted(onsets):
        chord = sorted(onsets[time], key=lambda n: -n.pitch)
        for rank, note in enumerate(chord):
            # the top note to the top voice, the lowest to the bottom voice, the others in between
            lowest = rank == len(chord) - 1 and rank > 0
            voice = o.voices - 1 if lowest else min(rank, max(o.voices - 2, 0))
            parts[voice].append(note.copy())
    tracks = [symusic.Track(name, program, False, notes) for name, program, notes in zip(names, programs, parts)]
    return make_score(tracks=tracks, like=score)


@dataclass
class DrumsOptions:
    keep: bool = option(False, "Keep the input's tracks beside the drums (else the drums alone).")
    seed: int = option(0, "Added to the recipe's seed.", min=0, max=2**31)
    extra: dict = option({}, "Options of the automaton model (rule, density, drums, step, ...).")


_NOT_DRUMS = ("mapping", "steps", "tempo")  # set from the input: a drum machine as long as the input


def _drum_options() -> type:
    from cadenza.models.symbolic.automaton import AutomatonConfig

    return _subset(AutomatonConfig, _NOT_DRUMS, "DrumOptions")


@kind("drums", SCORE, SCORE, DrumsOptions, extra=_drum_options)
def drums(ctx: Context, o: DrumsOptions, inputs: list):
    """A cellular-automaton drum machine as long as the input, at its tempo."""
    from cadenza.models.base import create

    score = inputs[0]
    tempo = score.tempos[0].qpm if len(score.tempos) else 120.0
    model = create("automaton", mapping="drums", tempo=float(tempo), **o.extra)
    quarters = score.end() / score.ticks_per_quarter
    steps = max(1, math.ceil(quarters / model.config.step))
    beat = model.generate(n=1, seed=ctx.seed, length=steps)[0]
    beat = beat.resample(score.ticks_per_quarter) if beat.ticks_per_quarter != score.ticks_per_quarter else beat
    if not o.keep:
        return beat
    out = score.copy()
    for track in beat.tracks:
        out.tracks.append(track.copy())
    return out


@dataclass
class SelectOptions:
    keep: list[str] = option([], "Track names to keep (default: all but those dropped).")
    drop: list[str] = option([], "Track names to leave out.")


@kind("select", SCORE, SCORE, SelectOptions)
def select(ctx: Context, o: SelectOptions, inputs: list):
    """Keep some tracks of a score, by name (e.g. the harmony without its melody)."""
    from cadenza.music.theory import make_score

    score = inputs[0]
    names = [t.name for t in score.tracks]
    for name in [*o.keep, *o.drop]:
        if name not in names:
            raise CadenzaError(f"no track named {name!r} (tracks: {', '.join(repr(n) for n in names) or 'none'})")
    kept = [t.copy() for t in score.tracks if (not o.keep or t.name in o.keep) and t.name not in o.drop]
    if not kept:
        raise CadenzaError("no track left")
    return make_score(tracks=kept, like=score)


@dataclass
class MergeOptions:
    """merge takes no options."""


@kind("merge", SCORE, SCORE, MergeOptions, many=True)
def merge(ctx: Context, o: MergeOptions, inputs: list):
    """Several scores as one, their tracks side by side (the first's tempo and metre)."""
    first = inputs[0]
    out = first.copy()
    for other in inputs[1:]:
        if other.ticks_per_quarter != first.ticks_per_quarter:
            other = other.resample(first.ticks_per_quarter)
        for track in other.tracks:
            out.tracks.append(track.copy())
    return out


# --- rendering and audio ------------------------------------------------------------------------

SOUNDFONT = "soundfont"


@dataclass
class RenderOptions:
    model: str = option(SOUNDFONT, "soundfont, or a run that plays scores (DDSP, WaveNet: pretrained/ddsp-violin).")
    part: str | None = option(None, "Play only this track (by name); a one-voice instrument otherwise plays "
                                    "the top voice of all tracks.")
    program: int | None = option(None, "SoundFont: play every pitched track on this General MIDI program.",
                                 min=0, max=127)
    soundfont: str | None = option(None, "SoundFont: an .sf2 file (default: the toolkit's).")
    sample_rate: int = option(22050, "SoundFont: sample rate in Hz.", min=8000, max=192000)
    seed: int = option(0, "Added to the recipe's seed (a neural instrument's noise).", min=0, max=2**31)


def _check_render(o: RenderOptions, where: str) -> str:
    from cadenza.models.abilities import Streaming

    if o.model != SOUNDFONT:
        run_of(o.model, where, Streaming, "play a score (it is not a Streaming model)")
        if o.program is not None or o.soundfont is not None:
            raise CadenzaError(f"{where}: program and soundfont apply to model = \"soundfont\" only")
    elif o.soundfont is not None and not Path(o.soundfont).is_file():
        raise CadenzaError(f"{where}: {o.soundfont}: no such SoundFont")
    return AUDIO


@kind("render", SCORE, AUDIO, RenderOptions, check=_check_render)
def render(ctx: Context, o: RenderOptions, inputs: list):
    """Play a score: through a SoundFont, or by a neural instrument (DDSP, WaveNet)."""
    from cadenza.audio.io import Audio
    from cadenza.music.transforms import melody

    score = inputs[0]
    if o.model == SOUNDFONT:
        from cadenza.music.render import render as play

        if o.part is not None:
            score = select(ctx, SelectOptions(keep=[o.part]), [score])
        return Audio(play(_retouch(score, None, o.program), o.sample_rate, o.soundfont), o.sample_rate)
    # a one-voice instrument plays one note at a time: the named part's, or the top voice of all
    if o.part is not None or len([t for t in score.tracks if not t.is_drum]) > 1:
        score = melody(score, o.part)
    return ctx.load(o.model).render_score(score, seed=ctx.seed)


@dataclass
class TransferOptions:
    model: str = option("", "A run that transfers timbre (pretrained/vae-violin, pretrained/ddsp-violin).")
    options: dict = option({}, "The model's transfer options (a VAE's offsets, DDSP's pitch_shift, ...).")
    seed: int = option(0, "Added to the recipe's seed.", min=0, max=2**31)


def _check_transfer(o: TransferOptions, where: str) -> str:
    from cadenza.models.abilities import Transfer

    cls = run_of(o.model, where, Transfer, "transfer timbre (it is not a Transfer model)")
    _build(cls.TransferOptions, o.options, f"{cls.name} transfer option", where)
    return AUDIO


@kind("transfer", AUDIO, AUDIO, TransferOptions, check=_check_transfer)
def transfer(ctx: Context, o: TransferOptions, inputs: list):
    """Timbre transfer: the input's audio played by a learned instrument (VAE, DDSP)."""
    from cadenza.models.base import run_class

    options = dict(o.options)
    if "progress" in {f.name for f in dataclasses.fields(run_class(o.model).TransferOptions)}:
        options.setdefault("progress", False)  # the recipe's runner reports progress, step by step
    audio, _notes = ctx.load(o.model).transfer(inputs[0], seed=ctx.seed, **options)
    return audio


@dataclass
class MixOptions:
    gains: list[float] = option([], "Gain of each input in dB (default 0 each).", min=-120, max=40)
    length: Literal["longest", "shortest", "first"] = option("longest", "Length of the mix.")
    sample_rate: int | None = option(None, "Sample rate in Hz (default: the highest of the inputs).",
                                     min=8000, max=192000)
    peak: float = option(0.9, "Scale the mix to this peak (0: leave it as summed).", min=0, max=1)


@kind("mix", AUDIO, AUDIO, MixOptions, many=True)
def mix(ctx: Context, o: MixOptions, inputs: list):
    """Sum several clips (mono, one sample rate), each at its gain."""
    from cadenza.audio.io import Audio

    if o.gains and len(o.gains) != len(inputs):
        raise CadenzaError(f"{ctx.name}: {len(o.gains)} gains for {len(inputs)} inputs")
    rate = o.sample_rate or max(clip.sample_rate for clip in inputs)
    clips = [clip.mono().resample(rate).samples[0] for clip in inputs]
    lengths = [len(c) for c in clips]
    length = {"longest": max(lengths), "shortest": min(lengths), "first": lengths[0]}[o.length]
    out = np.zeros(length, np.float64)
    for clip, gain in zip(clips, o.gains or [0.0] * len(clips)):
        part = clip[:length]
        out[:len(part)] += part * 10 ** (gain / 20)
    peak = float(np.max(np.abs(out))) if length else 0.0
    if o.peak and peak > 0:
        out *= o.peak / peak
    return Audio(out[None].astype(np.float32), rate)


# --- evaluation --------------------------------------------------------------------------------

# The per-piece metrics an evaluate step reports for a score (all of them are in report.json).
SCORE_SUMMARY = ("pitch_range", "n_pitch_classes_used", "pitch_class_entropy", "scale_consistency",
                 "key_strength", "polyphony", "notes_per_bar", "groove_consistency")


@dataclass
class EvaluateOptions:
    """evaluate takes no options."""


@kind("evaluate", ANY, METRICS, EvaluateOptions)
def evaluate(ctx: Context, o: EvaluateOptions, inputs: list):
    """Numbers about a score (key, range, entropy, ...: cadenza.evaluate) or a clip (length, level)."""
    from cadenza.audio.io import Audio

    item = inputs[0]
    if isinstance(item, Audio):
        samples = item.samples.astype(np.float64)
        rms = float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0
        return {"seconds": round(item.seconds, 3), "sample_rate": item.sample_rate,
                "peak": round(float(np.max(np.abs(samples))) if samples.size else 0.0, 4),
                "rms_dbfs": round(20 * math.log10(max(rms, 1e-10)), 2)}
    from cadenza.evaluate.metrics import key_estimate, piece_metrics
    from cadenza.music.theory import TONIC_NAMES
    from cadenza.music.transforms import note_count

    root, mode, _ = key_estimate(item)
    metrics = {k: (None if math.isnan(v) else round(v, 4)) for k, v in piece_metrics(item).items()}
    return {"notes": note_count(item), "tracks": len(item.tracks), "seconds": round(item.to("second").end(), 3),
            "key": f"{TONIC_NAMES[root % 12]} {mode}", **metrics}


def output_type(step: StepKind, options: Any, where: str) -> str:
    """What a step of this kind, with these options, gives out; checks them on the way."""
    checked = step.check(options, where) if step.check is not None else None
    return checked if step.output == "model" else step.output

