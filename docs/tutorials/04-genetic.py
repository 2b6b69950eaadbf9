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
# # Genetic algorithms: evolving melodies and harmonisations
#
# A genetic algorithm (Holland, *Adaptation in Natural and Artificial Systems*, 1975; Goldberg,
# *Genetic Algorithms in Search, Optimization and Machine Learning*, 1989) searches by breeding.
# A population of candidate solutions, each encoded as a *genome*, is scored by a *fitness*
# function; the fitter ones are more likely to become parents; children mix their parents'
# genomes (*crossover*) and change a little at random (*mutation*); the best few survive
# unchanged (*elitism*). Generation after generation the population climbs the fitness
# landscape, without ever computing a gradient.
#
# For music the hard part is the fitness. John Biles's GenJam (ICMC 1994) evolved jazz solos with
# a human listener as the fitness ("interactive GA"). McIntyre (1994) and Phon-Amnuaisuk &
# Wiggins (1999) harmonised chorale melodies in four parts with fitness functions built from
# the rules of harmony textbooks; Towsey, Brown, Wright & Diederich (2001) proposed melodic
# features (interval sizes, contour, range) as fitness terms. Phon-Amnuaisuk and Wiggins also
# showed the method's weakness: a GA only finds what its fitness rewards, and a rule-based
# system with the same knowledge did better.
#
# Cadenza's `genetic` model has both tasks: `melody` (a genome of pitches and *hold* genes on an
# eighth-note grid) and `harmonize` (one chord, inversion and voicing a half bar under a given
# melody). Fitness is a weighted sum of named terms that you can re-weight, switch off or extend,
# including a `likelihood` term: any trained model as a critic.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Audio, Image, display
from matplotlib.figure import Figure

import cadenza
from cadenza.evaluate import PieceSet, Reference, evaluate_set
from cadenza.evaluate.report import metrics_table
from cadenza.models.symbolic.genetic import plot_history
from cadenza.models.symbolic.genetic_engine import TERMS, fitness_term
from cadenza.models.symbolic.genetic_melody import HOLD
from cadenza.music.io import write_midi
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render
from cadenza.music.transforms import melody

RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-genetic-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(score, seconds=5.0):
    """An audio player for the first seconds of a score, through the General MIDI SoundFont."""
    return Audio(render(score, sample_rate=RATE)[0, : int(seconds * RATE)], rate=RATE)


# %% [markdown]
# ## Evolving a melody
#
# `evolve(n, seed)` returns the pieces with their fitness histories (`generate` returns the same
# pieces without them). A small run: 32 individuals for 40 generations, four bars in D minor.
# The built-in melody terms are listed with their default weights.

# %%
print({name: term.weight for name, term in TERMS["melody"].items()})
SMALL = {"population": 32, "generations": 40}  # the defaults are 64 and 150
ga = cadenza.create("genetic", key="D minor", bars=4, **SMALL)
evolved = ga.evolve(n=2, seed=0)
print({name: round(value, 3) for name, value in evolved[0].history["terms"].items()})
display(Image(filename=plot_history(evolved, workdir / "fitness.png")))

# %% [markdown]
# The best fitness never drops (elitism keeps the best two), the population's mean follows it
# up, and each term of the winner scores near its maximum of 1: the fitness is satisfied. Now
# look and listen: is a melody that satisfies these rules a good melody?

# %%
plot_piano_roll(evolved[0].score, title="an evolved melody, D minor")

# %%
listen(evolved[0].score)

# %% [markdown]
# ## Changing the fitness
#
# A term is a function of the whole population (one genome a row) that returns one score each.
# Here is a new one, `arch`: 1 when the melody's highest note falls in its middle, 0 when it is
# at an end. Registered with weight 0, it does nothing until a model asks for it in `weights`.

# %%
@fitness_term("melody", "arch", weight=0.0)
def arch(problem, population):
    """The highest note in the middle of the melody (an arch contour)."""
    pitches = np.where(population == HOLD, -1, population)
    peak = pitches.argmax(axis=1) / (population.shape[1] - 1)
    return 1.0 - 2.0 * np.abs(peak - 0.5)


arched = cadenza.create("genetic", key="D minor", bars=4, weights="arch=3", **SMALL).evolve(n=5, seed=0)
plain = cadenza.create("genetic", key="D minor", bars=4, **SMALL).evolve(n=5, seed=0)


def peak_position(score):
    notes = score.tracks[0].notes.numpy()
    return notes["time"][np.argmax(notes["pitch"])] / score.end()


fig = Figure(figsize=(6, 3))
ax = fig.subplots()
ax.hist([[peak_position(e.score) for e in plain], [peak_position(e.score) for e in arched]],
        bins=np.linspace(0, 1, 6), label=["default weights", "arch=3"])
ax.set_xlabel("where the highest note falls (0 = start, 1 = end)")
ax.set_ylabel("melodies")
ax.legend()
fig

# %% [markdown]
# ## Harmonising a chorale melody
#
# With `task="harmonize"` the genome is one `(chord, inversion, voicing)` a half bar under a
# given melody, read from a file. We take the soprano of a chorale from the test split, so we
# can set the GA's harmonisation beside Bach's own.

# %%
test = cadenza.corpus("bach", split="test", progress=False)
chorale = test[0]
tune = write_midi(melody(chorale, "Soprano"), workdir / f"{test.ids[0]}-soprano.mid")
harmonizer = cadenza.create("genetic", task="harmonize", melody=str(tune), **SMALL)
harmony = harmonizer.evolve(n=1, seed=0)[0]
print({name: round(value, 3) for name, value in harmony.history["terms"].items()})
print("chords:", " ".join(m.text for m in harmony.score.markers[:12]), "...")
plot_piano_roll(harmony.score, title=f"{test.ids[0]}: the GA's harmonisation")

# %%
plot_piano_roll(chorale, title=f"{test.ids[0]}: Bach's harmonisation")

# %%
display(listen(harmony.score), listen(chorale))

# %% [markdown]
# ## A model as critic
#
# The `likelihood` term scores each candidate by the mean log-probability that a trained model
# gives one of its voices, the bass by default. `fit` trains that model and nothing else: a
# Markov chain on the lowest part of every training chorale, kept in the GA's run
# (`likelihood_model=RUN` would take any other trained run instead). Four test-chorale melodies
# are harmonised with the rules alone and with the rules and the critic, and both sets are
# measured against the real four-part chorales.

# %%
train = cadenza.corpus("bach", split="train", progress=False)
sets = {"rules": [], "rules + critic": []}
names = []
for chorale_id, piece in list(zip(test.ids, test))[:4]:
    path = write_midi(melody(piece, "Soprano"), workdir / f"{chorale_id}.mid")
    names.append(chorale_id)
    rules = cadenza.create("genetic", task="harmonize", melody=str(path), **SMALL)
    sets["rules"].append(rules.generate(n=1, seed=0)[0])
    critic = cadenza.create("genetic", task="harmonize", melody=str(path), **SMALL).fit(train)
    sets["rules + critic"].append(critic.generate(n=1, seed=0)[0])

reference = Reference.load("bach", progress=False)
results = [evaluate_set(PieceSet(label, names, pieces), reference) for label, pieces in sets.items()]
metrics_table(results, reference)

# %% [markdown]
# The GA's chorales keep one chord a half bar and one note a voice a chord, so they have about
# half the notes a quarter of Bach's, whose inner voices move in passing tones, and fewer pitch
# classes (no chromatic notes outside the chord vocabulary); their scale measures sit on the real
# line, because the melody and the vocabulary fix them. A fitness made of rules gets the rules
# right, and only the rules. The critic changes the chords but, here, moves `key_strength` away
# from the real line: a likelihood term pulls towards whatever its model learned, and this one is
# a chain in absolute pitch trained on basses in every key.
#
# ## Save and load
#
# A GA's run holds its configuration and, after `fit`, its likelihood chain.

# %%
run = critic.save(workdir / "genetic-critic")
loaded = cadenza.load(run)
assert loaded.generate(n=1, seed=0)[0] == sets["rules + critic"][-1]
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Change the fitness.** Write a harmonisation term (`fitness_term("harmonize", ...)`;
#    `problem.voices(population)` gives `[population, slots, 4]` pitches) that rewards contrary
#    motion between the bass and the melody, give it a weight, and measure what it does to
#    `voice_leading` and to the listening.
# 2. **Selection pressure.** Compare `selection="roulette"` with the default tournament, and
#    `elitism=0` with 2: plot the best and mean fitness of each. When does the best drop?
# 3. **A person as the fitness.** GenJam's fitness was a listener. Write a loop that plays four
#    candidates, asks for a rating with `input()`, and feeds the ratings back as a term.
