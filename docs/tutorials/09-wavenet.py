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
# # WaveNet: audio one sample at a time
#
# **WaveNet** (van den Oord et al., *WaveNet: A Generative Model for Raw Audio*, 2016) treats a
# waveform like text: a sequence of symbols, each predicted from all the ones before it. The
# symbols are the 256 levels of 8-bit **mu-law** audio (a logarithmic companding from telephony
# that spends more levels on quiet samples than on loud ones), and the prediction is a softmax
# over the 256 classes, so the model gives an exact likelihood in bits per sample.
#
# To see far enough into the past at 16,000 samples a second, the network stacks **dilated
# causal convolutions**: each layer looks at two samples, the current one and one `d` steps
# back, with `d` doubling from layer to layer (1, 2, 4, ..., 512), so ten layers see 1,024
# samples while costing ten small convolutions. Each layer is a **gated** unit,
# tanh(filter) x sigmoid(gate), with residual connections between layers and skip connections
# to the output. **Conditioning** inputs enter every gate: global ones (a note's pitch, an
# instrument) and local ones at a lower rate (here DDSP's f0 and loudness a frame).
#
# Training is parallel (teacher forcing: the true previous samples are known), but generation is
# sequential: 16,000 network evaluations for one second. Naively each evaluation reruns the
# whole receptive field; Paine et al.'s *Fast Wavenet Generation Algorithm* (2016) keeps a queue
# of past activations in every layer so that one sample costs one small step a layer. Cadenza's
# `wavenet` has both, and the softmax or a discretised mixture of logistics (Salimans et al.,
# *PixelCNN++*, 2017) as its output.
#
# This notebook looks at mu-law and the receptive field, trains a tiny WaveNet on a few violin
# notes, measures likelihoods against two baselines, generates a quarter of a second from the
# shipped `pretrained/wavenet-notes`, and times the two generators.

# %%
# %matplotlib inline
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from IPython.display import Audio, display
from matplotlib.figure import Figure

import cadenza
from cadenza.audio.features import log_mel
from cadenza.data.audio_sets import single_notes
from cadenza.evaluate.audio import pitch_accuracy
from cadenza.evaluate.audio_likelihood import linear_prediction_bits, unigram_bits
from cadenza.models.audio.wavenet_net import generate_fast, generate_naive
from cadenza.nn.mulaw import mu_law_decode, mu_law_encode, mu_law_quantize

torch.set_num_threads(1)  # tiny models on a small shared CPU: more threads only contend
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by a dependency
RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-wavenet-")  # removed when the kernel stops
workdir = Path(scratch.name)


def spectrogram(ax, samples, title):
    """A log-mel spectrogram with 4 ms hops: short clips need fine time steps."""
    mel = log_mel(np.asarray(samples, np.float32).reshape(1, -1), RATE, hop=64, n_fft=512, n_mels=48)
    ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", vmin=-20, vmax=max(mel.max(), -19),
              interpolation="nearest", extent=(0, mel.shape[0] * 64 / RATE, 0, mel.shape[1]))
    ax.set_title(title)
    ax.set_xlabel("seconds")


# %% [markdown]
# ## Mu-law and the receptive field
#
# Left: the mu-law curve and the 256 levels it makes, dense near zero. Right: a sine at
# 440 Hz and its quantised version, a tenth of its amplitude: at this level the steps are still
# fine, where 8 uniform bits would leave only about 26 levels.

# %%
x = np.linspace(-1, 1, 2001)
t = np.arange(160) / RATE
quiet = 0.1 * np.sin(2 * np.pi * 440 * t)
levels = mu_law_decode(2 * mu_law_quantize(torch.tensor(quiet)).double() / 255 - 1).numpy()

fig = Figure(figsize=(11, 3.2))
left, right = fig.subplots(1, 2)
left.plot(x, mu_law_encode(torch.tensor(x)).numpy())
left.set_xlabel("sample")
left.set_ylabel("mu-law (mu = 255)")
left.set_title("companding")
right.plot(t * 1000, quiet, label="sine, amplitude 0.1")
right.step(t * 1000, levels, where="mid", label="its 8-bit mu-law levels")
right.set_xlabel("milliseconds")
right.legend(fontsize="small")
fig

# %% [markdown]
# The receptive field is `1 + sum of dilations` samples. The `laptop` preset, which made the
# shipped checkpoints, has ten layers with dilations 1 to 512:

# %%
laptop = cadenza.create("wavenet", preset="laptop").config
print("dilations", laptop.dilations, "->", 1 + sum(laptop.dilations), "samples =",
      f"{(1 + sum(laptop.dilations)) / RATE * 1000:.0f} ms at 16 kHz")

# %% [markdown]
# ## Data: single notes
#
# `single_notes` renders NSynth-like one-shots through the SoundFont: each (program, pitch,
# velocity) held one second with a half-second release, labelled with its pitch and program,
# split into train, valid and test by a hash. The named set `notes` (5 programs x 25 pitches x
# 3 velocities) made `pretrained/wavenet-notes`; here, 13 violin notes.

# %%
notes = single_notes(programs=(40,), pitches=range(55, 80, 2), velocities=(100,))
train, valid = notes["train"], notes["valid"]
print({split: [int(p) for p in s.label("pitch")] for split, s in notes.items()})

# %% [markdown]
# ## Train a tiny WaveNet
#
# Six layers of 12 channels (a receptive field of 64 samples, 4 ms), 40 steps of four crops of
# 50 ms. Each step predicts every sample of every crop from the true samples before it.

# %%
model = cadenza.create("wavenet", layers=6, cycle=6, residual=12, skip=16, conditioning=8, example_seconds=0.05,
                       batch_size=4, max_steps=40, steps_per_epoch=20, learning_rate=3e-3)
model.fit(train, valid=valid, workdir=workdir / "wavenet-tiny")
print(model.metrics_)

# %% [markdown]
# ## Likelihood against real audio
#
# `log_prob` scores every sample of the held-out notes in bits (8 bits is a uniform guess). The
# baselines of `cadenza.evaluate.audio_likelihood` put the number on a scale: the training
# audio's class frequencies with no memory at all (unigram), and a linear predictor of order 32
# fitted by least squares, the model of LPC speech coding.

# %%
shipped = cadenza.load("pretrained/wavenet-notes")
bits = {"unigram": unigram_bits(train.audio, valid.audio),
        "linear prediction, order 32": linear_prediction_bits(train.audio, valid.audio),
        "tiny WaveNet, 40 steps": model.log_prob(valid).bits_per_event,
        "pretrained/wavenet-notes": shipped.log_prob(valid).bits_per_event}
for name, value in bits.items():
    print(f"{name:28s} {value:5.2f} bits per sample")
print("shipped model:", {k: shipped.metrics_.get(k) for k in ("train_steps", "stopped_by", "valid_bits_per_event")})

# %% [markdown]
# Read WaveNet's numbers against linear prediction, not against 8 bits: a model that has only
# learned that audio is smooth already gets most of the way. The shipped checkpoint is
# *undertrained* (it stopped at a wall-clock budget, far short of the steps its preset asks
# for; see `docs/models/wavenet.md`), and where it does not beat the linear predictor here,
# that is the measure of how much training it still lacks.
#
# ## Generate, look and listen
#
# `generate(n, pitch, instrument, length)` samples `length` samples of a held note; several
# notes run side by side through one cached generator. A quarter of a second each, beside a
# real note of the same pitch. A trained model draws a harmonic stack like the real note's;
# broadband noise is what a model that has not learned the note yet makes.

# %%
pitch = int(valid.label("pitch")[0])
real = valid.audio[0][: RATE // 4]
generated = shipped.generate(n=3, seed=0, pitch=pitch, instrument=40, length=RATE // 4, progress=False)
tiny = model.generate(n=1, seed=0, pitch=pitch, length=RATE // 4, progress=False)[0]

fig = Figure(figsize=(12, 3))
axes = fig.subplots(1, 3, sharey=True)
spectrogram(axes[0], real, f"SoundFont violin, MIDI {pitch}")
spectrogram(axes[1], generated[0].samples, "pretrained/wavenet-notes")
spectrogram(axes[2], tiny.samples, "tiny WaveNet, 40 steps")
axes[0].set_ylabel("mel band")
fig.tight_layout()
fig

# %%
display(Audio(real, rate=RATE), Audio(generated[0].samples[0], rate=RATE), Audio(tiny.samples[0], rate=RATE))
print(pitch_accuracy(generated, [pitch] * len(generated)))

# %% [markdown]
# `pitch_accuracy` tracks the pitch of each generated note and compares it with the pitch it was
# asked for (within 50 cents). A sample-level model has to *learn* to follow its pitch input, and
# an undertrained one has not; DDSP's oscillators follow f0 by construction (see the DDSP
# tutorial). That contrast is the DDSP paper's argument.
#
# ## Two generators, the same samples
#
# `generate_naive` reruns the network over the receptive field for every sample;
# `generate_fast` (Paine et al.) keeps each layer's past inputs in a queue. Given the same
# uniforms they draw the same classes; only the cost differs, and it grows with the receptive
# field for the naive one. 200 samples from the shipped network (1,024 samples of receptive
# field):

# %%
controls = np.tile(np.array([[440.0, -20.0]], np.float32), (4, 1))  # 4 frames of 64 samples: f0 Hz, loudness dB
uniforms = np.random.default_rng(0).random(200)
net = shipped.net_.eval()
seconds = {}
for name, generator in (("naive", generate_naive), ("cached", generate_fast)):
    started = time.perf_counter()
    classes = generator(net, controls, 69, 40, uniforms)
    seconds[name] = time.perf_counter() - started
    print(f"{name:7s} {seconds[name]:5.2f} s  ({len(uniforms) / seconds[name]:6.0f} samples a second)", classes[:8])
print(f"cached is {seconds['naive'] / seconds['cached']:.1f}x faster")

# %% [markdown]
# ## Save and load

# %%
run = model.save(workdir / "wavenet-tiny")
again = cadenza.load(run)
assert again.generate(n=1, seed=0, pitch=pitch, length=RATE // 4, progress=False)[0] == tiny
print(sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Another output.** Train the tiny model with `output="logistic_mixture", mixtures=4` for
#    the same steps: compare the bits per sample, and the classes it puts probability on.
# 2. **The paper's input.** `excitation="none"` feeds f0 only as a frame control, as the paper
#    does; the default (`"sine"`) also feeds a sine at f0 sample by sample, as neural
#    source-filter models do. Train both for a few hundred steps and compare `pitch_accuracy`.
# 3. **Receptive field.** A violin note at 196 Hz repeats every 82 samples. Train with
#    `layers=5, cycle=5` (32 samples) and `layers=8, cycle=8` (256 samples): which can see a
#    whole period, and what happens to the likelihood?
