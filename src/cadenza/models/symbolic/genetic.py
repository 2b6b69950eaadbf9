"""Genetic algorithms: melody generation and four-part harmonisation of a melody.

A population of genomes evolves by selection, crossover and mutation towards
a fitness that is a weighted sum of named terms (Holland, "Adaptation in
Natural and Artificial Systems", 1975; Goldberg, "Genetic Algorithms in
Search, Optimization and Machine Learning", 1989). The musical use follows
Horner & Goldberg, "Genetic algorithms and computer-assisted music
composition", ICGA 1991; Biles, "GenJam: a genetic algorithm for generating
jazz solos", ICMC 1994 (a melody genome of pitches and hold symbols);
McIntyre, "Bach in a box: the evolution of four part baroque harmony using
the genetic algorithm", IEEE ICEC 1994, and Phon-Amnuaisuk & Wiggins, "The
four-part harmonisation problem: a comparison between genetic algorithms and
a rule-based system", AISB 1999 (harmonisation scored by rules of harmony
and voice leading); Towsey et al. 2001 (melodic fitness features). The terms
themselves are in ``genetic_fitness.py``.

Reproduces: generational GA with tournament or roulette-wheel (fitness
proportional, Goldberg's windowing: the worst gets no share) selection,
elitism, one-point or uniform crossover and musical mutation operators
(diatonic transposition and inversion of a segment, swaps, changed notes or
chords, re-voicing). ``task="melody"`` evolves a melody of pitches and holds
on a fixed grid; ``task="harmonize"`` evolves one chord a slot (chord of the
key, inversion, voicing) under a given melody, and writes the melody plus
alto, tenor and bass voices.
Changes: a chord's voicing is not free: each (chord, inversion, soprano note)
has a few precomputed SATB voicings within the voices' ranges, ranked by
spacing and doubling, and the genome picks one; this keeps every individual
a correct chord and lets whole populations be scored at once with numpy.
The files: ``genetic_engine.py`` (the generic GA and the registry of fitness
terms), ``genetic_melody.py`` and ``genetic_harmony.py`` (the two tasks:
genomes, operators, decoders), ``genetic_fitness.py`` (the terms and the
rules they score), and this one (options and the model).

A term may score by another model's likelihood (``likelihood_model``, any
run directory with ``log_prob``), standing in for the human critic of
interactive GAs. ``fit`` is optional: it trains that likelihood term, a
first-order Markov chain (``markov``) on the corpus's melodies (task melody)
or lowest parts (task harmonize), saved with the run.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.abilities import Reports
from cadenza.models.base import Generator, Sampling, create, get, load, option, register
from cadenza.models.symbolic import genetic_fitness  # noqa: F401  (registers the fitness terms)
from cadenza.models.symbolic.genetic_engine import TERMS, Problem, evolve, parse_weights
from cadenza.models.symbolic.genetic_harmony import HARMONY_MUTATIONS, HarmonyProblem
from cadenza.models.symbolic.genetic_melody import MELODY_MUTATIONS, MelodyProblem
from cadenza.music.theory import TPQ, Key, estimate_key, make_score, parse_diatonic_key
from cadenza.music.transforms import melody as top_voice


@dataclass
class GeneticConfig:
    task: Literal["melody", "harmonize"] = option("melody", "melody: evolve a new melody; harmonize: "
                                                            "evolve chords under the melody file given by melody.")
    melody: str | None = option(None, "Melody to harmonise: a MIDI or MusicXML file (task harmonize).",
                                kind="file")
    part: str | None = option(None, "Part of the melody file to take (default: its top voice).")
    key: str | None = option(None, "Key, e.g. 'F# minor', 'Bb major', 'D dorian'; default: estimated "
                                   "from the melody (harmonize) or C major (melody).")
    chords_per_bar: int = option(2, "Chords a bar when harmonising.", min=1, max=16)
    sevenths: bool = option(True, "Allow the key's seventh chords (V7, ii7, vii°7, ...).")
    secondary_dominants: bool = option(False, "Allow secondary dominants (V/ii, V/V, V7/IV, ...).")
    bars: int = option(4, "Bars of 4/4 in a generated melody (task melody) when no length is asked for.",
                       min=1, max=256)
    step: float = option(0.5, "Length of a melody slot in quarter notes (0.5 = eighth notes).", above=0, max=8)
    low: int = option(60, "Lowest pitch of a generated melody (MIDI).", min=0, max=127)
    high: int = option(81, "Highest pitch of a generated melody (MIDI); at least an octave above low.", min=0, max=127)
    population: int = option(64, "Individuals in the population.", min=2, max=100_000)
    generations: int = option(150, "Generations to evolve.", min=0, max=1_000_000)
    selection: Literal["tournament", "roulette"] = option("tournament", "Parent selection.")
    tournament_size: int = option(3, "Contestants in each tournament.", min=1, max=1000)
    elitism: int = option(2, "Best individuals copied unchanged into the next generation.", min=0, max=99_999)
    crossover: Literal["one-point", "uniform"] = option("one-point", "Crossover operator.")
    crossover_rate: float = option(0.9, "Probability that two parents are crossed.", min=0, max=1)
    mutation_rate: float = option(0.5, "Probability that a child is mutated (once, then again with "
                                       "this probability, and so on).", min=0, below=1)
    mutations: list[str] = option([], "Mutation operators to use (default all: transpose, invert, swap, "
                                      "change, and revoice when harmonising).")
    weights: str = option("", "Fitness weights, e.g. 'consonance=2,cadence=1' (others keep their defaults).")
    likelihood_model: str | None = option(None, "A trained run directory whose log_prob becomes the "
                                                "likelihood term (weight 1 unless weights says otherwise).",
                                          kind="run")
    likelihood_voice: Literal["bass", "tenor", "alto"] = option("bass", "Voice the likelihood term scores "
                                                                        "when harmonising.")
    tempo: float = option(100.0, "Tempo of a generated melody, in quarter notes a minute.", min=1, max=1000)
    program: int = option(0, "General MIDI program of the generated tracks (0 = piano).", min=0, max=127)

    def __post_init__(self):
        if self.task == "harmonize" and not self.melody:
            raise ValueError("task harmonize needs melody=PATH (a MIDI or MusicXML file)")
        if self.key is not None:
            parse_diatonic_key(self.key)
        if self.high - self.low < 12:
            raise ValueError(f"high must be at least an octave above low, got low={self.low} high={self.high}")
        if not 0 <= self.elitism < self.population:
            raise ValueError(f"elitism must be between 0 and population - 1, got {self.elitism}")
        if (self.step * TPQ) % 1:
            raise ValueError(f"step must be a number of quarters on a 1/{TPQ} grid, got {self.step}")
        known = HARMONY_MUTATIONS if self.task == "harmonize" else MELODY_MUTATIONS
        for name in self.mutations:
            if name not in known:
                raise ValueError(f"unknown mutation {name!r} for task {self.task} (known: {', '.join(known)})")
        parse_weights(self.weights, self.task)


# --- the model -----------------------------------------------------------------------

@dataclass(frozen=True)
class Evolved:
    """One evolved piece and how it got there."""

    score: symusic.Score
    history: dict  # "best" and "mean" fitness a generation; "terms": the best's score by term


@register
class GeneticAlgorithm(Generator, Reports):
    """Genetic algorithm: evolve a melody, or chords under a given melody, by weighted fitness terms."""

    name = "genetic"
    needs_fit = False
    Config = GeneticConfig
    Sampling = Sampling
    tiny_config = {"population": 12, "generations": 5, "bars": 2}

    def __init__(self, **config):
        super().__init__(**config)
        self.likelihood_: Generator | None = None  # trained by fit
        # Read on first use, once (under the lock: generations may run at the same time).
        self._melody: tuple[symusic.Score, Key] | None = None
        self._loaded: Generator | None = None
        self._lock = threading.Lock()

    # --- fit: the likelihood term ---------------------------------------------------------

    def _fit(self, pieces):
        if self.config.task == "harmonize":
            pieces = [_lowest_part(p) for p in pieces]
        self.likelihood_ = create("markov").fit(pieces)

    def _state(self):
        if self.likelihood_ is None:
            return {}, {}
        arrays, extra = self.likelihood_._state()
        return ({f"likelihood.{k}": v for k, v in arrays.items()},
                {"likelihood": {"model": self.likelihood_.name, "config": dataclasses.asdict(self.likelihood_.config),
                                "state": extra, "data": self.likelihood_.data_spec_}})

    def _expected_arrays(self, extra, directory, header):
        """The likelihood model's tensors, under ``likelihood.``: a run record nested in the state,
        checked like a run's own."""
        from cadenza.models.run_check import check_config, check_record

        if "likelihood" not in extra:
            return {}
        record = check_record(extra["likelihood"], directory, "cadenza.json state 'likelihood'")
        if record["model"] != "markov":  # what fit trains; a Markov chain keeps all its state in the run file
            raise CadenzaError(f"{directory}: the likelihood in cadenza.json is a {record['model'][:40]!r} model, "
                               "expected markov")
        check_config(get("markov").Config, record.get("config", {}), directory, "likelihood option")
        model = create("markov", **record.get("config", {}))
        inner = {k.split(".", 1)[1]: v for k, v in header.items() if k.startswith("likelihood.")}
        return {f"likelihood.{k}": v for k, v in model._expected_arrays(record.get("state", {}), directory,
                                                                        inner).items()}

    def _load_state(self, arrays, extra):
        if "likelihood" in extra:
            record = extra["likelihood"]
            model = create(record["model"], **record["config"])
            model._load_state({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("likelihood.")},
                              record["state"])
            model.data_spec_ = record.get("data") or {}
            self.likelihood_ = model

    # --- generate ------------------------------------------------------------------------

    def evolve(self, n: int = 1, seed: int = 0, **sampling) -> list[Evolved]:
        """The pieces ``generate`` gives (same seeds, same pieces), each with its fitness history."""
        return super().generate(n=n, seed=seed, **sampling)

    def generate(self, n: int = 1, seed: int = 0, **sampling) -> list:
        return [evolved.score for evolved in self.evolve(n=n, seed=seed, **sampling)]

    def generate_with_report(self, report, n: int = 1, seed: int = 0, **sampling) -> list:
        evolved = self.evolve(n=n, seed=seed, **sampling)
        plot_history(evolved, report)
        return [e.score for e in evolved]

    def likelihood_model(self) -> Generator | None:
        """The model behind the likelihood term: ``likelihood_model`` if given, else the one ``fit`` trained."""
        if self.config.likelihood_model:
            with self._lock:
                if self._loaded is None:
                    self._loaded = load(self.config.likelihood_model)
            return self._loaded
        return self.likelihood_

    def weights(self) -> dict[str, float]:
        """Every term's weight: defaults, then the likelihood at 1 if there is a model, then ``weights``."""
        task = self.config.task
        weights = {name: term.weight for name, term in TERMS[task].items()}
        if self.config.likelihood_model or self.likelihood_ is not None:
            weights["likelihood"] = 1.0
        try:
            weights.update(parse_weights(self.config.weights, task))
        except ValueError as exc:
            raise CadenzaError(str(exc)) from None
        return weights

    def key(self) -> Key:
        if self.config.key:
            return parse_diatonic_key(self.config.key)
        if self.config.task == "harmonize":
            return self._read_melody()[1]
        return Key(0, "major")

    def _read_melody(self) -> tuple[symusic.Score, Key]:
        with self._lock:
            if self._melody is None:
                self._melody = self._melody_and_key()
        return self._melody

    def _melody_and_key(self) -> tuple[symusic.Score, Key]:
        """The melody to harmonise, at TPQ ticks a quarter, and its key as written or estimated."""
        from cadenza.music.io import read_score

        score = read_score(self.config.melody)
        line = top_voice(score, self.config.part)
        if line.ticks_per_quarter != TPQ:
            line = line.resample(TPQ)
        notes = line.tracks[0].notes
        if not len(notes):
            raise CadenzaError(f"{self.config.melody}: the melody has no notes")
        fifths = line.key_signatures[0].key if len(line.key_signatures) else None
        return line, estimate_key([n.pitch for n in notes], [n.duration for n in notes], fifths)

    def problem(self, length: int | None = None) -> Problem:
        """The task as a :class:`Problem` (its terms, operators and decoder), for this config."""
        model = self.likelihood_model()
        if self.config.task == "harmonize":
            line, _ = self._read_melody()
            lm_part = getattr(getattr(model, "config", None), "part", None)
            problem = HarmonyProblem(line, self.key(), self.config.chords_per_bar, self.config.sevenths,
                                     self.config.secondary_dominants, self.config.program,
                                     likelihood_model=model,
                                     likelihood_track=lm_part or self.config.likelihood_voice.title())
            problem.likelihood_voice = self.config.likelihood_voice
            return problem
        step = int(round(self.config.step * TPQ))
        slots = length or max(2, int(round(self.config.bars * 4 / self.config.step)))
        lm_part = getattr(getattr(model, "config", None), "part", None)
        return MelodyProblem(self.key(), slots, self.config.low, self.config.high, step, self.config.tempo,
                             self.config.program, likelihood_model=model, likelihood_track=lm_part or "Melody")

    def _generate_one(self, rng, options):
        weights = self.weights()
        if weights.get("likelihood", 0) != 0 and self.likelihood_model() is None:
            raise CadenzaError("the likelihood term needs likelihood_model=RUN (or fit the genetic model first)")
        problem = self.problem(options.length if self.config.task == "melody" else None)
        best, history = evolve(problem, self.config, weights, rng)
        return Evolved(problem.decode(best), history)


def _lowest_part(score: symusic.Score) -> symusic.Score:
    """The pitched track with the lowest mean pitch, as a one-track score (a bass line to learn)."""
    tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    lowest = [min(tracks, key=lambda t: np.mean([n.pitch for n in t.notes])).copy()] if tracks else []
    return make_score(tracks=lowest, like=score)


def plot_history(history, path) -> Path:
    """Best and mean fitness per generation, to a PNG; ``history`` is one history, or a list of
    them, or what :meth:`GeneticAlgorithm.evolve` returns."""
    from matplotlib.figure import Figure

    from cadenza.utils import atomic_path

    histories = [history] if isinstance(history, (dict, Evolved)) else list(history)
    histories = [h.history if isinstance(h, Evolved) else h for h in histories]
    if not histories:
        raise CadenzaError("no fitness history to plot: generate first")
    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.add_subplot()
    for i, h in enumerate(histories):
        label = f" (piece {i + 1})" if len(histories) > 1 else ""
        line, = axes.plot(h["best"], label="best" + label)
        axes.plot(h["mean"], linestyle="--", color=line.get_color(), label="mean" + label)
    axes.set_xlabel("generation")
    axes.set_ylabel("fitness")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
