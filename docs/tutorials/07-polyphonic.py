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
# # Polyphony: a likelihood benchmark for piano rolls
#
# A melody is one note at a time; a chorale is four. Boulanger-Lewandowski, Bengio and Vincent
# (*Modeling temporal dependencies in high-dimensional sequences*, ICML 2012) turned
# polyphonic music into a benchmark: each piece is a **piano roll**, one frame a quarter note
# (for the Bach chorales), 88 keys each on or off; a model predicts frame *t* from the frames
# before it, and the score is the negative log-likelihood of the test pieces in nats a frame.
# Four data sets (JSB Chorales, Nottingham, MuseData, Piano-midi.de) became the standard test of
# sequence models with structured outputs.
#
# The difficulty is inside a frame: the keys of a chord are not independent. A network with
# 88 sigmoid outputs (an LSTM or a TCN) predicts each key on its own and cannot say "these four
# together", which is why such models score about 8 nats on JSB. Boulanger-Lewandowski et al.
# put a distribution over whole frames on top of the recurrent network: an RBM (RNN-RBM) or a
# **NADE** (RNN-NADE; Larochelle & Murray, AISTATS 2011), which orders the keys and predicts
# each from the keys decided below it. Cadenza's `polyphonic` model is in that family: a GRU
# reads the past frames; a **MADE** (Germain et al., ICML 2015: one network with masked weights
# that computes all the ordered conditionals at once) gives p(key k | keys below k, past); and a
# small network with the same weights for every key, reading each key's neighbourhood (after
# Johnson's tied parallel networks, 2017), adds to each key's logit. The frame probability is the
# product of the 88 conditionals, so the likelihood is exact, not a bound.
#
# This notebook trains a tiny model on the chorales for a few seconds, compares it with simple
# baselines and with the shipped `pretrained/jsb` checkpoint, and listens to both.

# %%
# %matplotlib inline
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from IPython.display import Audio, display
from matplotlib.figure import Figure

import cadenza
from cadenza.data.polyphonic import roll_to_score
from cadenza.evaluate.polyphonic import baseline, evaluate_rolls
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render
from cadenza.music.roll import piano_roll

torch.set_num_threads(1)  # tiny models on a small shared CPU: more threads only contend
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by a dependency
RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-polyphonic-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(score, seconds=5.0):
    """An audio player for the first seconds of a score, through the General MIDI SoundFont."""
    return Audio(render(score, sample_rate=RATE)[0, : int(seconds * RATE)], rate=RATE)


# %% [markdown]
# ## Chorales as piano rolls
#
# The benchmark's own files (`JSB_Chorales.mat`) do not ship with Cadenza;
# `cadenza.data.polyphonic.load_piano_rolls(path, split)` reads them when you have them, and
# `cadenza bench polyphonic` scores a model on them. Here we make rolls from the chorales that do
# ship, the way the benchmark's were made: the keys sounding at each beat, from the first note
# to the last, keys 21 (A0) to 108 (C8).

# %%
def beat_roll(score):
    """``[beats, 88]``: the keys sounding at the start of each quarter note."""
    roll = piano_roll(score, fs=4, low=21, high=109)[::4]  # sixteenths, then every fourth
    sounding = np.flatnonzero(roll.any(axis=1))
    return roll[sounding[0]: sounding[-1] + 1]


rolls = {split: [beat_roll(s) for s in cadenza.corpus("bach", split=split, progress=False)]
         for split in ("train", "valid", "test")}
print({split: len(r) for split, r in rolls.items()}, "pieces;",
      f"{np.mean([r.sum(axis=1).mean() for r in rolls['train']]):.2f} keys a frame on average")

fig = Figure(figsize=(9, 2.8))
ax = fig.subplots()
ax.imshow(rolls["test"][0].T[30:60], origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
          extent=(-0.5, len(rolls["test"][0]) - 0.5, 21 + 30 - 0.5, 21 + 60 - 0.5))
ax.set_xlabel("frame (quarter note)")
ax.set_ylabel("MIDI key")
ax.set_title("a test chorale as the model sees it")
fig

# %% [markdown]
# ## Train a tiny frame model
#
# `fit_rolls(train, valid)` trains on rolls (plain `fit` takes scores). A GRU of 32 units, a
# MADE of 64, a key network that looks six keys either way, 50 steps of eight random windows,
# each transposed by up to three semitones.

# %%
model = cadenza.create("polyphonic", hidden=32, layers=1, made_hidden=64, local=6, local_hidden=16, average=0.0,
                       max_steps=50, steps_per_epoch=25, batch_size=8, learning_rate=1e-2, transpose=3)
model.fit_rolls(rolls["train"], rolls["valid"], workdir=workdir / "poly-bach")
print(model.metrics_)

# %% [markdown]
# ## Against baselines and a trained model
#
# `evaluate_rolls` is the benchmark's scorer: NLL in nats a frame over frames 2..T, summed over
# the 88 keys. Two baselines frame the numbers: independent keys with their training
# frequencies (`bernoulli`), and a two-state Markov chain a key (`markov-pitch`: each key's
# chance of sounding given whether it sounded in the frame before). `pretrained/jsb` is the
# shipped model, trained for 19 minutes on the benchmark's training split; it scores 4.41 on the
# benchmark's own test split. (Its training split is not Cadenza's, so some of these test
# chorales may be among the pieces it learned from: read its number as an illustration, not a
# result.)

# %%
jsb = cadenza.load("pretrained/jsb")
scored = rolls["test"][:10]  # the shipped model scores 13 transpositions of every piece: keep it short
table = {name: evaluate_rolls(baseline(name, rolls["train"]), scored).nll for name in ("bernoulli", "markov-pitch")}
table["tiny model, 50 steps"] = evaluate_rolls(model, scored).nll
table["pretrained/jsb"] = evaluate_rolls(jsb, scored).nll
for name, nll in table.items():
    print(f"{name:22s} {nll:6.2f} nats a frame")

# %% [markdown]
# ## Looking inside: where each model is surprised
#
# `frame_log_prob(roll)` gives log p(frame t | frames before t) for every frame. The surprise
# of each frame, in nats, for the two models on one test chorale. The trained model is
# confident on most frames and pays heavily for a few it did not expect at all; the tiny one
# pays about the same on every frame: it has learned how full a frame is, not which chord
# comes next.

# %%
piece = rolls["test"][0]
fig = Figure(figsize=(9, 3))
ax = fig.subplots()
for name, m in (("tiny model", model), ("pretrained/jsb", jsb)):
    ax.plot(-m.frame_log_prob(piece), marker=".", label=name)
ax.set_xlabel("frame")
ax.set_ylabel("nats")
ax.set_title("surprise, frame by frame")
ax.legend()
fig

# %% [markdown]
# ## Listen
#
# `generate(n, seed, length)` samples frame by frame and key by key (88 small steps a frame,
# so a few seconds for a short piece on one core). Each sample is a score with one track.

# %%
samples = {"tiny model": model.generate(n=1, seed=1, length=24)[0],
           "pretrained/jsb": jsb.generate(n=1, seed=1, length=24)[0]}
plot_piano_roll(samples["pretrained/jsb"], title="pretrained/jsb: 24 quarter notes")

# %%
display(listen(samples["pretrained/jsb"]), listen(samples["tiny model"]),
        listen(roll_to_score(rolls["test"][0])))

# %% [markdown]
# The three players: the trained model, the tiny one, and the real test chorale as the roll
# keeps it (a roll cannot tell a held note from the same note struck again).
#
# ## Save and load

# %%
run = model.save(workdir / "poly-bach")
again = cadenza.load(run)
assert np.allclose(again.frame_log_prob(piece), model.frame_log_prob(piece))
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Independent keys.** Set `local=0` and `made_hidden` small, or compare with
#    `output="nade"`: how much of the tiny model's advantage over `markov-pitch` comes from
#    modelling the keys of a frame jointly?
# 2. **The transposition mixture.** `mixture=m` scores each piece as the average of the model on
#    the piece transposed by -m..m semitones. Load `pretrained/jsb`, build a copy with
#    `mixture=0` (`cadenza.create("polyphonic", **{**vars(jsb.config), "mixture": 0})` and its
#    `net_`), and measure what the mixture is worth.
# 3. **The real benchmark.** If you have `JSB_Chorales.mat`, run
#    `cadenza bench polyphonic pretrained/jsb --data JSB_Chorales.mat` and train the tiny model
#    on `load_piano_rolls(path, "train")` instead of the rolls made here.
