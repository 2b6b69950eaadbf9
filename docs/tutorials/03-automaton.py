# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Cellular automata: a piano roll that computes itself
#
# A cellular automaton is a line (or a board) of cells, each alive or dead, updated all at
# once from its neighbours by one fixed rule. Stephen Wolfram's survey "Statistical mechanics of
# cellular automata" (*Reviews of Modern Physics* 55, 1983) studied the simplest family, the
# **elementary** automata: two states, each cell looks at itself and its two neighbours, so a
# rule is a table of 8 bits and there are 256 rules, numbered by that table. Rule 90 grown from
# one live cell draws Pascal's triangle modulo 2 (a Sierpinski gasket); rule 30 looks random;
# rule 110 grows interacting structures on a regular background. In **totalistic** rules the
# new state depends only on the sum of the neighbourhood, and allow more than two colours.
# John Conway's Game of Life (Martin Gardner's column in *Scientific American*, 1970) is a
# two-dimensional rule: a dead cell with exactly three live neighbours is born, a live cell with
# two or three survives (`B3/S23`).
#
# A line of cells through time *is* a piano roll: time runs down the generations, and each cell
# can be a pitch (or a drum). Composers and researchers have read automata this way since the
# 1980s; Eduardo Miranda's CAMUS system (1993), for example, turned Game of Life boards into
# chord sequences. Nothing is learned: the rule and the first generation decide everything, so
# the interesting questions are which rules sound musical, and how to choose the first
# generation. Cadenza's `automaton` model offers the three families, two mappings (scale
# degrees or a drum kit) and first generations from random cells, a pattern, or a melody.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Audio
from matplotlib.figure import Figure

import cadenza
from cadenza.evaluate import PieceSet, Reference, evaluate_set
from cadenza.evaluate.report import metrics_table
from cadenza.models.symbolic.automaton import Automaton
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render

RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-automaton-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(score, seconds=5.0):
    """An audio player for the first seconds of a score, through the General MIDI SoundFont."""
    return Audio(render(score, sample_rate=RATE)[0, : int(seconds * RATE)], rate=RATE)


# %% [markdown]
# ## Three rules from one cell
#
# `Automaton(config).run(first, generations)` steps a rule and returns its history; the model
# reads the `lanes` cells at the centre of the line (8 of 64 by default, shaded below) as the
# piano roll. Here are the first 48 generations of rules 90, 30 and 110, each from a single live
# cell. With the ring of 64 cells wrapping around, rule 90's triangle meets itself after 32
# generations and every cell dies.

# %%
fig = Figure(figsize=(11, 4))
for ax, rule in zip(fig.subplots(1, 3), ("90", "30", "110")):
    model = cadenza.create("automaton", rule=rule, init="single")
    history = Automaton(model.config).run(model.first_generation(np.random.default_rng(0)), 48)
    ax.imshow(history, cmap="Greys", interpolation="nearest", aspect="auto")
    centre = history.shape[1] // 2 - model.config.lanes // 2
    ax.axvspan(centre - 0.5, centre + model.config.lanes - 0.5, color="tab:orange", alpha=0.25)
    ax.set_title(f"rule {rule}")
    ax.set_xlabel("cell")
fig.axes[0].set_ylabel("generation (time)")
fig.tight_layout()
fig

# %% [markdown]
# ## Rules as melodies
#
# `generate` runs the rule and reads the lanes as the degrees of a scale (`key`, default A minor
# pentatonic); with `rhythm="held"` (the default) a note starts when its cell is born and holds
# while it lives. A random first generation (`density` of live cells) differs for every seed.

# %%
rule30 = cadenza.create("automaton", rule="30", key="D dorian", steps=64)
piece = rule30.generate(n=1, seed=4)[0]
plot_piano_roll(piece, title="rule 30 from random cells, D dorian, 8 lanes")

# %%
listen(piece)

# %% [markdown]
# ## A Game of Life drum machine
#
# On a board, each column is a sixteenth of a bar and each row a lane, here one of eight General
# MIDI drums (kick, snare, closed hat, open hat, clap, two toms, ride); each generation of the
# board is the next bar. With `rhythm="held"` drums hit when a cell is born.

# %%
life = cadenza.create("automaton", rule="B3/S23", mapping="drums", density=0.3)
groove = life.generate(n=1, seed=2, length=64)[0]
plot_piano_roll(groove, title="Life (B3/S23) on a 16 x 8 board: one generation a bar")

# %%
listen(groove)

# %% [markdown]
# ## First generations from real melodies
#
# `fit` learns nothing, but a corpus gives it first generations: each melody lights the lanes
# of its pitches, and each generated piece starts from one of them, chosen by the seed. The
# fitted seeds are saved with the run.

# %%
train = cadenza.corpus("bach", split="train", progress=False)
seeded = cadenza.create("automaton", rule="110", key="G major").fit(train)
print(len(seeded.seeds_), "seed patterns, e.g.", seeded.seeds_[0])
plot_piano_roll(seeded.generate(n=1, seed=0)[0], title="rule 110 grown from a chorale melody")

# %% [markdown]
# ## Against real music
#
# The automata play several lanes at once, so we measure them against the four-part chorales:
# `Reference.load("bach")` analyses the training split once and measures the test split
# against it (the real line). One set of 8 pieces for each rule, all in G major.

# %%
reference = Reference.load("bach", progress=False)
results = []
for rule in ("30", "90", "110"):
    pieces = cadenza.create("automaton", rule=rule, key="G major", octave=4).generate(n=8, seed=0)
    results.append(evaluate_set(PieceSet(f"rule {rule}", [str(i) for i in range(8)], pieces), reference))
metrics_table(results, reference)

# %% [markdown]
# Where the *mapping* decides, the automata differ from the chorales in the same way whatever
# the rule: eight lanes of a scale give an octave and a half of range where four voices span
# almost three octaves, every note is in the key, and a sixteenth-note grid makes twice as many
# notes a quarter as Bach's. Where the *rule* decides, these per-piece averages hardly tell the
# rules apart from a random start, although the diagrams above look nothing alike: averages of
# pitch and rhythm statistics do not see structure in time. The self-similarity matrices and
# the set comparison of `cadenza.evaluate` (`Evaluation.structure`, `comparison_table`) look
# further; try them on these sets.
#
# ## Save and load

# %%
run = seeded.save(workdir / "automaton-110")
assert cadenza.load(run).generate(n=1, seed=0)[0] == seeded.generate(n=1, seed=0)[0]
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Another rule.** Try the totalistic code 1599 with three colours
#    (`kind="totalistic", colours=3, velocity="state"`): the colour sets the velocity. Draw its
#    space-time diagram as above.
# 2. **Search the rule space.** Generate 8 pieces for each of the 256 elementary rules and rank
#    the rules by how close their mean `polyphony` and `pitch_entropy` come to the chorales' real
#    line. Are the winners Wolfram's class 4 rules?
# 3. **A glider.** Start Life from a glider (`pattern=".O./..O/OOO"`) on the drum board. How
#    many bars before the pattern repeats, and what does the repetition sound like?
