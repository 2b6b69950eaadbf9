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
# # DDSP: a learned instrument made of oscillators, noise and a room
#
# Generating raw audio sample by sample with a neural network is expensive, and most of what
# the network must learn (that a note is a sum of harmonics, that a room adds reverberation)
# has been known to signal processing for decades. **DDSP** (Engel, Hantrakul, Gu & Roberts,
# *DDSP: Differentiable Digital Signal Processing*, ICLR 2020) keeps those classical
# synthesisers and makes them differentiable, so a small network can learn to *play* them:
#
# - an **additive synthesiser**: a bank of sinusoids at integer multiples of the fundamental
#   frequency f0, with an overall amplitude and a distribution over harmonics that the
#   network sets every few milliseconds (harmonics above the Nyquist frequency are silenced);
# - a **filtered-noise synthesiser** for breath and bow noise: white noise through a filter
#   whose frequency response the network also sets each frame (the harmonic-plus-noise model of
#   Serra and Smith's spectral modelling synthesis, 1990);
# - a learned **reverb**: a convolution with a decaying impulse response.
#
# The network reads two curves a frame, the **f0** and the **loudness** of the sound to make,
# and is trained to reproduce recordings from their own f0 and loudness, with a
# multi-resolution spectral loss (differences of magnitude spectrograms at several FFT sizes).
# Because the controls are f0 and loudness, a trained model can play anything that has them: a
# score, or another instrument's recording (**timbre transfer**).
#
# This notebook renders a few chorale melodies on the General MIDI violin of a SoundFont (so
# the true f0 of every frame is known), trains a tiny DDSP on them for a few seconds, compares
# it with the shipped `pretrained/ddsp-violin`, and measures both against the real audio.

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
from cadenza.audio import Audio as Clip
from cadenza.audio.features import log_mel
from cadenza.data.audio_sets import from_scores, render_clip
from cadenza.evaluate.audio import resynthesis_metrics
from cadenza.music.transforms import melody

torch.set_num_threads(1)  # tiny models on a small shared CPU: more threads only contend
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by a dependency
RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-ddsp-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(samples, seconds=5.0, start=0.0):
    """An audio player for a few seconds of a mono clip at 16 kHz."""
    samples = samples.samples if isinstance(samples, Clip) else samples
    return Audio(np.asarray(samples).reshape(-1)[int(start * RATE): int((start + seconds) * RATE)], rate=RATE)


def spectrogram(ax, samples, title, seconds=5.0, start=0.0):
    """A log-mel spectrogram (64 bands, 16 ms hops) of a few seconds of a clip."""
    samples = samples.samples if isinstance(samples, Clip) else samples
    excerpt = np.asarray(samples).reshape(1, -1)[:, int(start * RATE): int((start + seconds) * RATE)]
    mel = log_mel(excerpt, RATE, hop=256, n_fft=1024)
    ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", vmin=-20, vmax=mel.max(),
              interpolation="nearest", extent=(0, mel.shape[0] * 256 / RATE, 0, mel.shape[1]))
    ax.set_title(title)
    ax.set_xlabel("seconds")


# %% [markdown]
# ## Audio with a known f0
#
# `from_scores(scores, program)` renders the top voice of each score on a General MIDI program
# (40: violin) through the SoundFont, and keeps its f0 (from the score: exact), loudness
# (A-weighted, in dB) and the playing velocity, 250 frames a second. This is an `AudioSet`,
# the data every audio model of Cadenza trains on; the named sets (`cadenza.corpus("violin")`,
# `"notes"`, ...) are larger versions, built once into the cache.

# %%
train_scores = [melody(s, "Soprano") for s in cadenza.corpus("bach", split="train", progress=False)[:4]]
test_scores = [melody(s, "Soprano") for s in cadenza.corpus("bach", split="test", progress=False)[:2]]
train = from_scores(train_scores, program=40, name="bach-violin")
held_out = from_scores(test_scores, program=40, name="bach-violin-test")
print(f"{len(train)} clips, {train.seconds:.0f} s to train on; {held_out.seconds:.0f} s held out")

clip = 0
frames = np.arange(len(held_out.f0[clip])) * held_out.hop / RATE
start = frames[np.argmax(held_out.loudness[clip] > -60)]  # the first note (the chorale opens on a pickup)
fig = Figure(figsize=(10, 3.4))
top, bottom = fig.subplots(2, 1, sharex=True)
top.plot(frames, held_out.f0[clip])
top.set_ylabel("f0 (Hz)")
bottom.plot(frames, held_out.loudness[clip])
bottom.set_ylabel("loudness (dB)")
bottom.set_xlabel("seconds")
bottom.set_xlim(start, start + 8)
fig.suptitle("the two control curves of a held-out clip")
fig

# %% [markdown]
# ## Train a tiny DDSP
#
# `cadenza.create("ddsp", ...)` takes the sizes of the decoder and of the synthesisers; the
# `laptop` preset (40 harmonics, about 18 minutes on two cores) made `pretrained/ddsp-violin`.
# Here: 20 harmonics, 17 noise bands, a GRU of 32 units and 40 steps of four half-second
# examples.

# %%
model = cadenza.create("ddsp", hidden=32, gru=32, mlp_layers=1, n_harmonics=20, n_noise_bands=17,
                       reverb_seconds=0.1, example_seconds=0.5, fft_sizes=[512, 256, 128, 64],
                       batch_size=4, max_steps=40, steps_per_epoch=20, learning_rate=3e-3)
model.fit(train, valid=held_out, workdir=workdir / "ddsp-tiny")
print(model.metrics_)

# %% [markdown]
# ## Look and listen: the SoundFont, the trained violin, the tiny one
#
# `render_score` plays a score with the learned instrument: f0 from the notes, loudness from an
# envelope fitted to the training set's levels. The same test melody three ways, from its first
# note.

# %%
violin = cadenza.load("pretrained/ddsp-violin")
tune = test_scores[0]
clips = {"SoundFont violin (the data)": held_out.audio[0],
         "pretrained/ddsp-violin": violin.render_score(tune),
         "tiny DDSP, 40 steps": model.render_score(tune)}
fig = Figure(figsize=(12, 3.2))
for ax, (name, audio) in zip(fig.subplots(1, 3, sharey=True), clips.items()):
    spectrogram(ax, audio, name, start=start)
fig.axes[0].set_ylabel("mel band")
fig.tight_layout()
fig

# %%
display(*[listen(audio, start=start) for audio in clips.values()])

# %% [markdown]
# The trained model draws the harmonic stack of each note, with noise between the harmonics
# and a soft attack; the tiny model has learned little of the spectrum yet: its timbre is a
# buzz of equal harmonics. Both play exactly the melody's pitches, because f0 drives the
# oscillators directly: DDSP never has to learn what a pitch is.
#
# ## Against the real audio
#
# `resynthesis_metrics` plays each held-out clip from its own f0 and loudness and compares the
# result with the clip: loudness error (dB), f0 error of the output as a pitch tracker hears it
# (semitones), and the multi-resolution spectral distance, beside a **baseline** that uses the
# same controls with no learning at all: a sum of harmonics with fixed, decaying amplitudes.

# %%
for name, m in (("pretrained/ddsp-violin", violin), ("tiny DDSP", model)):
    print(name, resynthesis_metrics(m, held_out, max_seconds=6.0))

# %% [markdown]
# The shipped model's spectral distance is well under the sine baseline's: it has learned a
# violin's spectrum. The tiny one is above it: forty steps are not enough, and a few minutes
# of training change that (`cadenza train ddsp --data violin --preset laptop`).
#
# ## Timbre transfer
#
# `transfer(audio)` tracks the f0 and loudness of any recording (CREPE where its weights are
# installed, else YIN), moves its level into the instrument's range, and plays them. Here a
# flute (program 73) plays the test melody, and the violin model plays the flute.

# %%
flute = render_clip(test_scores[1], program=73)["audio"][: 5 * RATE]
transferred, notes = violin.transfer(Clip(flute[None], RATE), progress=False)
print(notes)
display(listen(flute), listen(transferred))

# %% [markdown]
# ## Save and load
#
# Streaming, offline rendering and transfer all run the same block-by-block code, so a loaded
# model (or a stream fed 256 samples at a time: `cadenza stream`) gives the same samples.

# %%
run = model.save(workdir / "ddsp-tiny")
again = cadenza.load(run)
assert again.render_score(tune) == clips["tiny DDSP, 40 steps"]
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Fewer harmonics.** Play the test melody with the shipped violin and with a model trained
#    with `n_harmonics=4`: what do the spectrograms lose, and does the spectral distance see it?
# 2. **Another instrument.** Train the tiny model on the same melodies rendered on the flute
#    (`program=73`) for 400 steps and transfer the violin to it. What does the noise synthesiser
#    do for a flute that it does not do for a violin?
# 3. **Change the controls.** `render_score(tune, pitch_shift=-12, loudness_shift=-10)` plays
#    an octave lower and 10 dB softer. How far can you shift before the violin stops sounding
#    like one, and why does the model not know what to do there?
