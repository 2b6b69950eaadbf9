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
# # An LSTM that writes melodies token by token
#
# A recurrent network reads a sequence one step at a time and carries a state from step to
# step, so in principle it can remember anything it has read. In practice plain recurrent
# networks forget within a few steps, because gradients shrink (or blow up) as they flow back
# through time. The **LSTM** of Hochreiter and Schmidhuber (*Neural Computation*, 1997) adds a
# memory cell with gates that decide what to write, keep and read, and learns dependencies over
# hundreds of steps. Eck and Schmidhuber used it for blues improvisation in 2002; Sturm, Santos,
# Ben-Tal and Korshunova's **folk-rnn** (*Music transcription modelling and composition using
# deep learning*, CSMC 2016) trained a three-layer LSTM on about 23,000 folk tunes written as ABC
# text tokens and sampled new tunes token by token, until an end-of-tune token.
#
# Cadenza's `lstm` is that design over **REMI** tokens (Huang & Yang, *Pop Music Transformer*,
# 2020; through the miditok library): a melody becomes `Bar`, `Position`, `Pitch` and
# `Duration` events, after a few conditioning tokens (style, key, meter). The network is an
# embedding, a stack of LSTM layers and a softmax over the vocabulary, trained by next-token
# cross-entropy. Sampling runs under a *grammar mask* that only allows tokens that keep the
# sequence decodable (a `Pitch` is followed by its `Duration`, positions rise within a bar).
#
# This notebook trains a small LSTM on the soprano lines of the Bach chorales for a few seconds
# on one CPU thread, looks at what it predicts, listens, and measures it against a Markov chain
# and against real melodies.

# %%
# %matplotlib inline
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from IPython.display import Audio, Image, display
from matplotlib.figure import Figure

import cadenza
from cadenza.evaluate import PieceSet, Reference, evaluate_set
from cadenza.evaluate.report import comparison_table, metrics_table
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render
from cadenza.music.theory import note_name
from cadenza.music.transforms import melody

torch.set_num_threads(1)  # tiny models on a small shared CPU: more threads only contend
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by a dependency
RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-lstm-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(score, seconds=5.0):
    """An audio player for the first seconds of a score, through the General MIDI SoundFont."""
    return Audio(render(score, sample_rate=RATE)[0, : int(seconds * RATE)], rate=RATE)


# %% [markdown]
# ## Train a small LSTM
#
# `cadenza.create("lstm", ...)` takes the network's size and the training recipe; the presets
# `laptop` (minutes on a CPU) and `gpu` (folk-rnn's size) are there for real runs. Here: one
# layer of 128 units, 100 optimiser steps on 64-token windows, validated every 50 steps.
# `fit(train, valid=..., workdir=...)` runs Cadenza's Lightning engine: checkpoints, CSV logs and
# a `loss.png` go to the work directory, and running the same call again resumes.
# With `melody=True` (the default) the model reads the top voice, the soprano.

# %%
train = cadenza.corpus("bach", split="train", progress=False)
valid = cadenza.corpus("bach", split="valid", progress=False)
test = cadenza.corpus("bach", split="test", progress=False)

model = cadenza.create("lstm", layers=1, hidden=128, embedding=32, context=64, batch_size=16,
                       max_steps=100, steps_per_epoch=50, learning_rate=1e-2, dropout=0.0, transpose=2)
model.fit(train, valid=valid, workdir=workdir / "lstm-bach")
print(model.metrics_)
Image(filename=workdir / "lstm-bach" / "loss.png")

# %% [markdown]
# ## What the model reads
#
# The tokenizer is learned with the model (`model.tokenizer_`). Here is the start of a test
# chorale's soprano as the network sees it:

# %%
tokenizer = model.tokenizer_
ids = tokenizer.encode(test[0], style="bach")
print(len(ids), "tokens for", tokenizer.notes_in(ids), "notes")
print(" ".join(tokenizer.base_names[i] for i in ids[:26]))

# %% [markdown]
# ## Looking inside: what it expects next
#
# The network (`model.net_`, a plain PyTorch module) gives a distribution over the next token
# at every step. At each `Pitch` token of the test melody we take the probability the model gave
# to every pitch, before seeing it, and draw it as a heat map with the real melody on top: a
# picture of how surprised the model was, note by note. After 100 steps the columns are nearly
# all alike: the model has learned the soprano's register and little of what the melody before
# it says. Keep the picture for the trained transformer of the next tutorial.

# %%
with torch.no_grad():
    logits, _ = model.net_(torch.tensor([ids]))
probs = torch.softmax(logits[0], dim=-1).numpy()  # [T, V]: row t predicts token t + 1
pitch_ids = sorted(tokenizer.pitch_of, key=tokenizer.pitch_of.get)
pitches = np.array([tokenizer.pitch_of[i] for i in pitch_ids])
steps = [t for t in range(1, len(ids)) if ids[t] in tokenizer.pitch_of][:40]
heat = np.stack([probs[t - 1, pitch_ids] / probs[t - 1, pitch_ids].sum() for t in steps], axis=1)
actual = [tokenizer.pitch_of[ids[t]] for t in steps]
shown = (pitches >= 55) & (pitches <= 81)

fig = Figure(figsize=(10, 3.6))
ax = fig.subplots()
image = ax.imshow(heat[shown], origin="lower", aspect="auto", cmap="viridis",
                  extent=(-0.5, len(steps) - 0.5, pitches[shown][0] - 0.5, pitches[shown][-1] + 0.5))
ax.plot(range(len(steps)), actual, "w.", markersize=8, label="the melody")
ax.set_yticks([p for p in pitches[shown] if p % 12 in (0, 7)])
ax.set_yticklabels([note_name(p) for p in pitches[shown] if p % 12 in (0, 7)])
ax.set_xlabel("note")
ax.set_title(f"P(pitch | everything before), {test.ids[0]} soprano")
fig.colorbar(image, ax=ax, label="probability")
ax.legend(loc="upper right")
fig

# %% [markdown]
# ## Generate and listen
#
# `generate` samples token by token under the grammar mask. The sampling options are the
# transformer's too: `temperature`, `top_k`, `top_p`, a length in `bars` or notes, conditioning
# tokens (`key`, `meter`, `style`) and a `key` mask that keeps every pitch in the key.

# %%
pieces = model.generate(n=8, seed=0, bars=8, key="G", meter="4/4", style="bach")
plot_piano_roll(pieces[0], title="tiny LSTM, 100 steps: 8 bars in G")

# %%
display(listen(pieces[0]), listen(model.generate(n=1, seed=0, bars=8, key="G", temperature=0.6)[0]))

# %% [markdown]
# ## Against a Markov chain and real melodies
#
# `log_prob` gives the same kind of number for both models: nats of everything the model
# predicts, per note, so bits per note compare directly (a Markov chain on (pitch, duration)
# pairs, order 3, trained in a fraction of a second).

# %%
markov = cadenza.create("markov", order=3, part="Soprano").fit(train)
for name, m in (("lstm (100 steps)", model), ("markov order 3", markov)):
    print(f"{name:18s} {m.log_prob(test).bits_per_event:6.2f} bits per note on the test chorales")

# %%
def soprano(pieces, label):
    return PieceSet(label, list(pieces.ids), [melody(s, "Soprano") for s in pieces])


reference = Reference("bach soprano", soprano(train, "bach soprano train"), soprano(test, "bach soprano test"))
reference.prepare()
sets = {"lstm": pieces, "markov": markov.generate(n=8, seed=0, length=32)}
results = [evaluate_set(PieceSet(k, [f"{k}-{i}" for i in range(8)], v), reference) for k, v in sets.items()]
display(metrics_table(results, reference), comparison_table(results, reference))

# %% [markdown]
# After a few seconds of training the LSTM writes decodable melodies (the grammar mask sees to
# that) in G (the key mask sees to that: `scale_consistency` is 1), but it leaps about twice as
# far as Bach's sopranos (`mean_interval`), leaves beats empty, and is far from the corpus on the
# pitch-class transitions. On held-out likelihood a counting model trained in a fraction of a
# second is far ahead: a neural model needs many more steps than this notebook can afford.
# `make bench` records longer runs (Essen, minutes of training) in `docs/benchmarks.md`.
#
# ## Save and load
#
# The run directory holds the weights (`model.safetensors`), miditok's `tokenizer.json` and
# `cadenza.json`; a loaded model samples exactly the same melodies.

# %%
run = model.save(workdir / "lstm-bach")
loaded = cadenza.load(run)
assert loaded.generate(n=1, seed=0, bars=8, key="G", meter="4/4", style="bach")[0] == pieces[0]
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Train longer.** Give the model 1,000 steps (`max_steps`) and two layers with dropout
#    0.3: how many steps until it beats the Markov chain's bits per note, if it does?
# 2. **Another tokenization.** Train with `tokenizer="TSD"` (time shifts instead of bar and
#    position) or `bpe_vocab=300` (byte-pair merges of frequent token pairs). Bits per *note*
#    still compare; bits per token do not. Why?
# 3. **Temperature and nucleus.** Sample 16 melodies at temperatures 0.5, 1.0 and 1.5, and with
#    `top_p=0.9`; place each set in the tables above. Which setting comes closest to the real
#    line on `pitch_entropy` and the set comparison?
