"""The generic genetic algorithm: selection, crossover, the generational loop, the fitness registry.

Holland, "Adaptation in Natural and Artificial Systems", 1975; Goldberg,
"Genetic Algorithms in Search, Optimization and Machine Learning", 1989.
A generational GA with tournament or roulette-wheel (fitness proportional,
Goldberg's windowing: the worst gets no share) selection, elitism, one-point
or uniform crossover along the genome's slots, and mutation by the
operators a :class:`Problem` names. Nothing here knows music: a problem
(``genetic_melody.py``, ``genetic_harmony.py``) supplies genomes, operators
and a decoder, and the fitness is a weighted sum of named terms registered
for its task with :func:`fitness_term` (the musical ones are in
``genetic_fitness.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.music.theory import Key, make_score

TASKS = ("melody", "harmonize")


# --- fitness terms ----------------------------------------------------------------------

TermFn = Callable[["Problem", np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Term:
    fn: TermFn
    weight: float  # default weight
    help: str


TERMS: dict[str, dict[str, Term]] = {task: {} for task in TASKS}


def fitness_term(task: str, name: str, weight: float = 1.0, help: str = ""):
    """Decorator: register ``fn(problem, population) -> [P] scores`` as a term of ``task``.

    ``problem`` is the model's ``MelodyProblem`` or ``HarmonyProblem`` (the key,
    the chord vocabulary, decoders); ``population`` an int array, one genome a row.
    """
    if task not in TERMS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join(TERMS)})")

    def wrap(fn: TermFn) -> TermFn:
        TERMS[task][name] = Term(fn, float(weight), help or (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return wrap


def parse_weights(text: str, task: str) -> dict[str, float]:
    """``"consonance=2,cadence=1"`` -> ``{"consonance": 2.0, "cadence": 1.0}``; ValueError on bad input."""
    weights = {}
    for item in (text or "").replace(";", ",").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"weight {item.strip()!r} is not NAME=NUMBER")
        if name not in TERMS[task]:
            raise ValueError(f"unknown fitness term {name!r} for task {task} "
                             f"(known: {', '.join(sorted(TERMS[task]))})")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"weight of {name!r} must be a number, got {value.strip()!r}") from None
        if not np.isfinite(number):
            raise ValueError(f"weight of {name!r} must be finite, got {value.strip()!r}")
        weights[name] = number
    return weights


def per_genome(fn):
    """A term from ``fn(problem, genome) -> score``: scores the population one genome at a time."""
    def term(problem, population):
        return np.array([fn(problem, row) for row in population], dtype=float)
    term.__doc__ = fn.__doc__
    return term


# --- the GA --------------------------------------------------------------------------------

def tournament(fitness: np.ndarray, k: int, rng: np.random.Generator, size: int = 3) -> np.ndarray:
    """``k`` parent indices, each the fittest of ``size`` drawn with replacement."""
    contestants = rng.integers(0, len(fitness), size=(k, size))
    return contestants[np.arange(k), np.argmax(fitness[contestants], axis=1)]


def roulette(fitness: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` parent indices drawn with probability proportional to fitness minus the worst."""
    shares = fitness - fitness.min()
    total = shares.sum()
    p = shares / total if total > 0 else np.full(len(fitness), 1.0 / len(fitness))
    return rng.choice(len(fitness), size=k, p=p)


def one_point(a: np.ndarray, b: np.ndarray, point: int) -> tuple[np.ndarray, np.ndarray]:
    """Children ``a[:point] + b[point:]`` and ``b[:point] + a[point:]`` (along the slots)."""
    return (np.concatenate([a[:point], b[point:]]), np.concatenate([b[:point], a[point:]]))


def uniform(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slot ``i`` of the first child from ``a`` where ``mask[i]``, else from ``b``; the second the other way."""
    mask = np.asarray(mask, dtype=bool).reshape((-1,) + (1,) * (a.ndim - 1))
    return np.where(mask, a, b), np.where(mask, b, a)


def evolve(problem: Problem, config, weights: dict[str, float], rng: np.random.Generator):
    """Run the GA; returns the best genome and its history (best/mean fitness a generation, and the
    best's score by term). ``config`` holds the GA's settings (the model's ``GeneticConfig``)."""
    size, elite = config.population, config.elitism
    operators = config.mutations or problem.mutations
    population = problem.random_population(rng, size)
    fitness, _ = problem.fitness(population, weights)
    history = {"best": [], "mean": []}
    for generation in range(config.generations + 1):
        history["best"].append(float(fitness.max()))
        history["mean"].append(float(fitness.mean()))
        if generation == config.generations:
            break
        order = np.argsort(-fitness, kind="stable")
        children = [population[i].copy() for i in order[:elite]]
        while len(children) < size:
            if config.selection == "tournament":
                i, j = tournament(fitness, 2, rng, config.tournament_size)
            else:
                i, j = roulette(fitness, 2, rng)
            a, b = population[i].copy(), population[j].copy()
            if rng.random() < config.crossover_rate and problem.slots > 1:
                if config.crossover == "one-point":
                    a, b = one_point(a, b, int(rng.integers(1, problem.slots)))
                else:
                    a, b = uniform(a, b, rng.random(problem.slots) < 0.5)
            for child in (a, b):
                while rng.random() < config.mutation_rate:
                    child = problem.mutate(child, operators[int(rng.integers(len(operators)))], rng)
                children.append(problem.repair(child))
        population = np.stack(children[:size])
        fitness, _ = problem.fitness(population, weights)
    best = population[int(np.argmax(fitness))]
    _, terms = problem.fitness(best[None], weights)
    history["terms"] = {name: float(values[0]) for name, values in terms.items()}
    return best, history


class Problem:
    """What a task evolves: genomes, their operators, their fitness and their decoder, in a key.

    Subclasses set ``task``, ``mutations`` and ``slots`` and implement
    ``random_population``, ``mutate``, ``valid``, ``decode`` and
    ``likelihood_part`` (the track a likelihood model scores).
    """

    task = ""
    mutations: tuple[str, ...] = ()
    slots = 0

    def __init__(self, key: Key, likelihood_model=None, likelihood_track: str = "Melody"):
        self.key = key
        self.likelihood_model = likelihood_model
        self.likelihood_track = likelihood_track
        self._likelihood_cache: dict[bytes, float] = {}

    def fitness(self, population: np.ndarray, weights: dict[str, float]):
        """Weighted sum of the terms (``[P]``) and each term's scores."""
        terms = {name: np.asarray(TERMS[self.task][name].fn(self, population), dtype=float)
                 for name, w in weights.items() if w != 0}
        total = np.zeros(len(population))
        for name, values in terms.items():
            total += weights[name] * values
        return total, terms

    def likelihood(self, population: np.ndarray) -> np.ndarray:
        if self.likelihood_model is None:
            raise CadenzaError("the likelihood term needs likelihood_model=RUN (or fit the genetic model first)")
        out = np.empty(len(population))
        for i, genome in enumerate(population):
            key = genome.tobytes()
            if key not in self._likelihood_cache:
                track = self.likelihood_part(genome)
                track.name = self.likelihood_track
                lp = self.likelihood_model.log_prob([make_score(tracks=[track])])
                self._likelihood_cache[key] = lp.total / max(1, lp.events)
            out[i] = self._likelihood_cache[key]
        return out

    def repair(self, genome: np.ndarray) -> np.ndarray:
        return genome
