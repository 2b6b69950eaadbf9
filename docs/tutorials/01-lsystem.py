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
# # L-systems: music from rewriting rules
#
# An **L-system** is a string-rewriting system that Aristid Lindenmayer introduced in 1968 to
# model how simple organisms grow. Unlike a Chomsky grammar, which rewrites one symbol at a
# time, an L-system rewrites *every* symbol of the string at once at each step, the way every
# cell of a filament divides at the same time. Start from an *axiom* (`A`), apply the
# productions (`A -> AB`, `B -> A`) a few times and the string grows: `A`, `AB`, `ABA`,
# `ABAAB`, ... whose lengths are the Fibonacci numbers.
#
# Prusinkiewicz and Lindenmayer's *The Algorithmic Beauty of Plants* (1990) added the pieces
# used here: brackets `[ ]` that push and pop a turtle's state to draw branches, stochastic
# productions (several successors, each with a probability) and context-sensitive ones (a
# symbol is rewritten only between given neighbours). A turtle walking the string turns it into
# a drawing. In "Score generation with L-systems" (ICMC 1986) Prusinkiewicz let the turtle
# draw a *score* instead: moving along is time, moving up and down is pitch.
#
# Nothing is learned: the grammar is the whole model. What comes out is self-similar at every
# scale, because each part of the string grew by the same rules. This notebook builds
# L-systems with Cadenza's `lsystem` model, reads them as melody, harmony and rhythm, listens
# to them and measures how they differ from real melodies.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

from IPython.display import Audio, display

import cadenza
from cadenza.evaluate import PieceSet, Reference, evaluate_set
from cadenza.evaluate.report import metrics_table, novelty_structure_table
from cadenza.evaluate.structure import plot_self_similarity
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render
from cadenza.music.transforms import melody

RATE = 16000  # audio players at 16 kHz keep the notebook small
scratch = tempfile.TemporaryDirectory(prefix="cadenza-lsystem-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(score, seconds=5.0):
    """An audio player for the first seconds of a score, through the General MIDI SoundFont."""
    samples = render(score, sample_rate=RATE)[0, : int(seconds * RATE)]
    return Audio(samples, rate=RATE)


# %% [markdown]
# ## Rewriting
#
# `cadenza.create("lsystem", axiom=..., rules=..., iterations=...)` makes a model; its
# `expand()` method returns the rewritten string. Productions are separated by `;`.

# %%
fibonacci = cadenza.create("lsystem", axiom="A", rules="A->AB;B->A", iterations=7)
print(fibonacci.expand())
print([len(cadenza.create("lsystem", axiom="A", rules="A->AB;B->A", iterations=i).expand()) for i in range(8)])

# %% [markdown]
# ## A melody from a turtle
#
# With `interpretation="notes"` (the default) the turtle reads `F` as *play a note and move
# on*, `+` and `-` as one step up and down the scale of `key`, `[` and `]` as *remember* and
# *return to* the current pitch, and ignores other letters (they only steer the growth).
# Here a bracketed motif grows three times: each branch is an ornament that returns home.

# %%
tree = cadenza.create("lsystem", axiom="X", rules="X->F[+X]F[-X]+X;F->F", iterations=3,
                      key="D dorian", step=0.25)
print(tree.expand())
score = tree.generate(n=1, seed=0)[0]
plot_piano_roll(score, title="F[+X]F[-X]+X, three iterations, D dorian")

# %%
listen(score)

# %% [markdown]
# ## Stochastic grammars: one seed, one piece
#
# Without `axiom` and `rules` the model uses its preset, a stochastic grammar whose `X` grows
# phrases in four different ways. Each seed draws different productions, so every seed gives
# a different melody; the same seed always gives the same one (`generate` is deterministic
# in its seed, like every Cadenza model).

# %%
model = cadenza.create("lsystem", iterations=4)
axiom, rules, step = model.config.grammar()
print("axiom:", axiom)
print("rules:", rules.replace(";", ";\n       "))
pieces = model.generate(n=8, seed=1)
assert model.generate(n=1, seed=1)[0] == pieces[0]
plot_piano_roll(pieces[0], title="preset grammar, seed 1")

# %%
listen(pieces[0])

# %% [markdown]
# ## The same idea as harmony and as rhythm
#
# The same rewriting drives other readings. `interpretation="chords"` reads symbols as chords
# of the key (`T` tonic, `S` subdominant, `D` dominant seventh, ...) and voices each one close
# to the one before; the preset grows a tonic through subdominant and dominant preparation,
# after Rohrmeier's generative syntax of tonal harmony (2011). `interpretation="rhythm"` reads
# each symbol as a sixteenth of a General MIDI drum kit.

# %%
chords = cadenza.create("lsystem", interpretation="chords", key="G major").generate(n=1, seed=3)[0]
drums = cadenza.create("lsystem", interpretation="rhythm").generate(n=1, seed=3)[0]
plot_piano_roll(chords, title="chords preset, G major")

# %%
plot_piano_roll(drums, title="rhythm preset (General MIDI drum keys)")

# %%
display(listen(chords), listen(drums))

# %% [markdown]
# ## Self-similarity you can see
#
# A bar-by-bar self-similarity matrix (Foote 1999; `cadenza.evaluate.structure`) compares the
# chroma and onsets of every bar with every other bar: a piece built from repeated bars shows
# bright off-diagonal stripes. Keep this picture in mind for the evaluation below.

# %%
plot_self_similarity(pieces[0], title="self-similarity of the seed-1 melody")

# %% [markdown]
# ## Against real music
#
# How far is a grammar with no knowledge of any style from real melodies? `cadenza.evaluate`
# measures a set of pieces against a reference corpus and always shows what real music scores
# on the same measure: the *real-vs-real line*, the reference's test split measured against its
# training split. The melodies here are one voice, so the reference is the soprano line of the
# Bach chorales (the `bach` corpus ships offline, from the music21 wheel).

# %%
def soprano(split):
    pieces = cadenza.corpus("bach", split=split, progress=False)
    return PieceSet(f"bach soprano {split}", list(pieces.ids), [melody(s, "Soprano") for s in pieces])


reference = Reference("bach soprano", soprano("train"), soprano("test"))
reference.prepare()  # metrics, features and a novelty index of the training melodies, once
generated = evaluate_set(PieceSet("lsystem", [f"seed1-{i}" for i in range(len(pieces))], pieces), reference)
display(metrics_table([generated], reference))

# %%
novelty_structure_table([generated], reference)

# %% [markdown]
# Read each row against the real test melodies. The preset's melodies stay in the scale
# (`scale_consistency` 1, as high as Bach's) but leap more (`mean_interval`), move in even
# eighth notes (`notes_per_quarter`) and have a weaker sense of key (`key_strength`): nothing in
# the grammar knows about tonal goals. They share few runs of eight intervals with the chorales
# (`copy_rate_8`): they speak another language. And the bar-level `repetition_rate` is 0 even
# though the grammar repeats its motifs everywhere: the motifs fall across the bar lines, and a
# bar-by-bar measure only sees what is aligned with bars. Every measure sees only what it looks
# for; that is why Cadenza shows several, and the real line beside each.
#
# ## Save and load
#
# A model is a run directory (`cadenza.json`, no pickles). For an L-system it holds only the
# configuration, but the API is the same for every technique.

# %%
run = model.save(workdir / "lsystem-run")
again = cadenza.load(run)
assert again.generate(n=1, seed=1)[0] == pieces[0]
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Add a context.** Change the tree's rules so that an `F` between two `F`s becomes a rest
#    (`F<F>F->f`) and listen to how the rhythm opens up. Which symbols does `ignore` hide from
#    the context test, and why does that matter for `+` and `-`?
# 2. **Parallel branches.** Create the tree with `branches="parallel"`: the turtle now returns
#    to the branch point *in time* too, so branches sound together (the 1986 reading). Plot
#    it: what happened to the texture?
# 3. **A grammar with a style.** Write a stochastic grammar (`A->0.7:AB|0.3:BA`) whose
#    melodies score closer to the Bach soprano lines on `mean_interval` and `repetition_rate`
#    than the preset does. What did you have to change?
