"""Reading a recipe: a TOML file of named steps, checked whole before anything runs.

A recipe is a small graph (a DAG) of steps. Each step has a ``kind`` (see
:mod:`cadenza.compose.steps`), options, and names the steps it reads from::

    [recipe]
    name = "Folk tune, harmonised"
    seed = 0

    [steps.tune]
    kind = "generate"
    model = "markov"
    corpus = "essen"
    sampling = { length = 48 }

    [steps.harmony]
    kind = "harmonize"
    input = "tune"

:func:`read_recipe` turns the file into a :class:`Recipe` whose steps are in an
order that runs every step after its inputs, or raises one
:class:`~cadenza.errors.CadenzaError` line for the first thing wrong: bad TOML,
an unknown step kind or option, a reference to a step that does not exist, a
cycle, a step fed the wrong type (audio into a step that takes a score), a
model that is missing or cannot do what the step asks. Nothing is written and
no model is trained before all of that is known to be right: a typo in the last
step costs nothing.

``tiny`` (the tests' and ``--tiny``'s quick runs) lays each kind's quick values,
then each step's own ``tiny`` table, over the step's options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.compose.steps import AUDIO, KINDS, StepKind, output_type
from cadenza.config import SEED
from cadenza.errors import CadenzaError

RECIPE_KEYS = ("name", "description", "seed", "final")
STEP_KEYS = ("kind", "input", "inputs", "tiny")  # the rest of a step's table are its kind's options


@dataclass
class Step:
    """One step of a recipe, checked: its kind, the steps it reads, its options and output type."""

    name: str
    kind: StepKind
    inputs: list[str]
    options: Any  # the kind's Options dataclass
    output: str  # score, audio or metrics
    table: dict = field(default_factory=dict)  # as written (after --tiny), for the report

    @property
    def seed_offset(self) -> int:
        return int(getattr(self.options, "seed", 0))


@dataclass
class Recipe:
    """A checked recipe: steps in the order they run (every step after its inputs)."""

    name: str
    path: Path | None
    steps: list[Step]
    seed: int = 0
    description: str = ""
    final: str | None = None  # the step whose audio is the final mix (None: no audio at all)
    tiny: bool = False

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def read_recipe(path: str | os.PathLike, tiny: bool = False, seed: int | None = None) -> Recipe:
    """The recipe in TOML file ``path``, checked whole (see the module docstring).
    ``seed`` replaces the recipe's seed; ``tiny`` asks for a quick run."""
    from cadenza.utils import read_toml

    path = Path(path)
    if not path.is_file():
        raise CadenzaError(f"{path}: no such recipe file")
    data = read_toml(path, "recipe file")
    return parse_recipe(data, path.name, path=path, tiny=tiny, seed=seed)


def parse_recipe(data: dict, where: str = "recipe", path: Path | None = None, tiny: bool = False,
                 seed: int | None = None) -> Recipe:
    """A recipe from its parsed TOML ``data``; ``where`` starts every error line."""
    unknown = sorted(set(data) - {"recipe", "steps"})
    if unknown:
        raise CadenzaError(f"{where}: unknown table {unknown[0]!r} (a recipe has [recipe] and [steps.NAME])")
    head = _table(data.get("recipe", {}), f"{where}: [recipe]")
    bad = sorted(set(head) - set(RECIPE_KEYS))
    if bad:
        raise CadenzaError(f"{where}: unknown [recipe] key {bad[0]!r} (known: {', '.join(RECIPE_KEYS)})")
    seed = head.get("seed", 0) if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed not in SEED:
        raise CadenzaError(f"{where}: seed must be a whole number {SEED}, got {seed!r}")
    tables = _table(data.get("steps", {}), f"{where}: [steps]")
    if not tables:
        raise CadenzaError(f"{where}: no steps (add a [steps.NAME] table with a kind)")

    steps = {name: _step(name, _table(table, f"{where}: step {name!r}"), f"{where}: step {name!r}", tiny)
             for name, table in tables.items()}
    order = _run_order(steps, where)
    _check_types(steps, order, where)
    final = head.get("final")
    if final is not None:
        if final not in steps:
            raise CadenzaError(f"{where}: final names an unknown step {final!r} (steps: {', '.join(steps)})")
        if steps[final].output != AUDIO:
            raise CadenzaError(f"{where}: final step {final!r} gives {steps[final].output}, not audio")
    else:
        audio = [n for n in order if steps[n].output == AUDIO]
        mixes = [n for n in audio if steps[n].kind.name == "mix"]
        final = (mixes or audio or [None])[-1]
    return Recipe(str(head.get("name", path.stem if path else "recipe")), path, [steps[n] for n in order],
                  seed, str(head.get("description", "")), final, tiny)


def _table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise CadenzaError(f"{where} must be a table, got {type(value).__name__}")
    return value


def _merged(base: dict, over: dict) -> dict:
    """``base`` with ``over`` laid on it; tables (config, sampling) are merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _step(name: str, table: dict, where: str, tiny: bool) -> Step:
    """One step's table checked on its own: kind, input names, options (with ``tiny`` applied)."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise CadenzaError(f"{where}: a step name has letters, digits, - and _ only")
    kind_name = table.get("kind")
    if kind_name is None:
        raise CadenzaError(f"{where}: no kind (one of {', '.join(KINDS)})")
    if kind_name not in KINDS:
        raise CadenzaError(f"{where}: unknown step kind {kind_name!r} (known: {', '.join(KINDS)})")
    kind = KINDS[kind_name]
    inputs = _inputs(kind, table, where)
    raw = {k: v for k, v in table.items() if k not in STEP_KEYS}
    if tiny:
        raw = _merged(_merged(raw, kind.tiny), _table(table.get("tiny", {}), f"{where}: tiny"))
    elif "tiny" in table:
        _table(table["tiny"], f"{where}: tiny")
    options = kind.options(raw, where)
    return Step(name, kind, inputs, options, output_type(kind, options, where), raw)


def _inputs(kind: StepKind, table: dict, where: str) -> list[str]:
    """The names of the steps a step reads: ``input = "a"`` for one, ``inputs = ["a", "b"]`` for several."""
    one, many = table.get("input"), table.get("inputs")
    if not kind.inputs:
        if one is not None or many is not None:
            raise CadenzaError(f"{where}: a {kind.name} step takes no input")
        return []
    if kind.many:
        if one is not None:
            raise CadenzaError(f"{where}: a {kind.name} step takes several inputs: inputs = [\"a\", \"b\"]")
        if not isinstance(many, list) or not many or not all(isinstance(n, str) for n in many):
            raise CadenzaError(f"{where}: a {kind.name} step needs inputs = [\"a\", \"b\", ...] (step names)")
        return list(many)
    if many is not None:
        raise CadenzaError(f"{where}: a {kind.name} step takes one input: input = \"NAME\"")
    if not isinstance(one, str) or not one:
        raise CadenzaError(f"{where}: a {kind.name} step needs input = \"NAME\" (the step it reads)")
    return [one]


def _run_order(steps: dict[str, Step], where: str) -> list[str]:
    """The steps' names in an order that runs each after its inputs (file order where free);
    an unknown name or a cycle is an error."""
    for name, step in steps.items():
        for source in step.inputs:
            if source not in steps:
                raise CadenzaError(f"{where}: step {name!r} reads an unknown step {source!r} "
                                   f"(steps: {', '.join(steps)})")
            if source == name:
                raise CadenzaError(f"{where}: step {name!r} reads itself (a cycle)")
    order, done = [], set()
    while len(order) < len(steps):
        ready = [n for n, s in steps.items() if n not in done and all(i in done for i in s.inputs)]
        if not ready:
            waiting = [n for n in steps if n not in done]
            raise CadenzaError(f"{where}: the steps {', '.join(repr(n) for n in waiting)} read each other "
                               "in a cycle")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _check_types(steps: dict[str, Step], order: list[str], where: str) -> None:
    """Every input is of a type its step takes (a score into transpose, audio into mix)."""
    for name in order:
        step = steps[name]
        for source in step.inputs:
            given = steps[source].output
            if given not in step.kind.inputs:
                wanted = " or ".join(step.kind.inputs)
                raise CadenzaError(f"{where}: step {name!r} ({step.kind.name}) takes {wanted}, but its input "
                                   f"{source!r} ({steps[source].kind.name}) gives {given}")
