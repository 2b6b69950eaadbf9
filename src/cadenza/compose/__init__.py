"""Recipes: several techniques chained into one piece (``cadenza compose recipe.toml --out DIR``).

A recipe is a TOML file of named steps: generate with any model, transform the
score (transpose, quantise, harmonise with the genetic algorithm, split into
voices, add automaton drums), play each part (SoundFont, DDSP, WaveNet, VAE
timbre transfer), mix, evaluate. It sits above the models and below the
interfaces, like :mod:`cadenza.workflow`:

- :mod:`~cadenza.compose.steps`: the step kinds, one small function each, with
  their options and the types they take and give (``score``, ``audio``);
- :mod:`~cadenza.compose.recipe`: reading a recipe and checking all of it
  (kinds, options, names, cycles, types, models) before any work;
- :mod:`~cadenza.compose.run`: running the steps in order, writing every
  intermediate and a report with each step's wall time.

    >>> from cadenza.compose import read_recipe, run_recipe
    >>> report = run_recipe(read_recipe("examples/recipes/folk-violin.toml"), "out/folk")

The recipes in ``examples/recipes/`` and ``docs/recipes.md`` show the format.
"""

from cadenza.compose.recipe import Recipe, Step, parse_recipe, read_recipe
from cadenza.compose.run import ComposeReport, StepEvent, run_recipe
from cadenza.compose.steps import KINDS, StepKind, kind

__all__ = ["KINDS", "ComposeReport", "Recipe", "Step", "StepEvent", "StepKind", "kind", "parse_recipe",
           "read_recipe", "run_recipe"]
