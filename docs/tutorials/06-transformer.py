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
# # Transformers: a Hugging Face language model of music, fine-tuned
#
# The Transformer (Vaswani et al., *Attention is all you need*, NeurIPS 2017) replaces
# recurrence with **self-attention**: every position of a sequence looks at every earlier
# position directly, with learned weights that depend on what is there, so a note can refer to
# a phrase fifty bars back as easily as to the note before it. A decoder-only Transformer trained
# to predict the next token is a language model (GPT-2: Radford et al., 2019). Huang et al.'s
# *Music Transformer* (ICLR 2019) applied it to music with relative attention; Huang and Yang's
# *Pop Music Transformer* (2020) introduced the REMI tokens (bar, position, pitch, duration) used
# here.
#
# Language models are rarely trained once. A model *pretrained* on a large corpus is
# **fine-tuned**: training continues from its weights, for a few steps at a low learning rate,
# on the data of a new task. It starts from everything it knows and needs far less data and
# time than training from scratch.
#
# Cadenza's `transformer` is not a copy of GPT-2: it *is* one. The network is built from a
# config by Hugging Face Transformers (`GPT2LMHeadModel`, or `LlamaForCausalLM` with
# `architecture="llama"`), and a saved run is a Hugging Face model directory plus miditok's
# `tokenizer.json`. This notebook opens the shipped `pretrained/folk` model (trained for 23
# minutes on the Essen folk songs) with Cadenza and with plain `transformers`, shows what it has
# learned, and fine-tunes it on the Bach chorale melodies for a few seconds, all offline.

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
from cadenza.evaluate import PieceSet, Reference, evaluate_set
from cadenza.evaluate.report import comparison_table, metrics_table
from cadenza.models.base import resolve_run
from cadenza.models.symbolic.transformer import finetune, from_checkpoint
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render
from cadenza.music.theory import note_name
from cadenza.music.transforms import melody

torch.set_num_threads(1)  # tiny models on a small shared CPU: more threads only contend
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by a dependency
RATE = 16000
scratch = tempfile.TemporaryDirectory(prefix="cadenza-transformer-")  # removed when the kernel stops
workdir = Path(scratch.name)


def listen(score, seconds=5.0):
    """An audio player for the first seconds of a score, through the General MIDI SoundFont."""
    return Audio(render(score, sample_rate=RATE)[0, : int(seconds * RATE)], rate=RATE)


train = cadenza.corpus("bach", split="train", progress=False)
valid = cadenza.corpus("bach", split="valid", progress=False)
test = cadenza.corpus("bach", split="test", progress=False)

# %% [markdown]
# ## A trained model that ships: `pretrained/folk`
#
# `cadenza.load("pretrained/folk")` loads a checkpoint that ships inside the package: GPT-2,
# 3 layers of width 96, trained for 600 steps on 6,808 Essen folk songs (the collection's
# licence is non-commercial, and so is what the model makes from it). Training one like it from
# scratch is `cadenza.create("transformer", layers=3, dim=96, ...).fit(train, valid=valid)`,
# exactly as for the LSTM of the previous tutorial (the exercise below does it at a tiny size).
# Conditioning tokens choose the key and meter, and the sampling masks keep every note in the
# key.

# %%
folk = cadenza.load("pretrained/folk")
print(type(folk.net_).__name__, f"{sum(p.numel() for p in folk.net_.parameters()):,} parameters,",
      {k: folk.metrics_[k] for k in ("train_steps", "train_minutes", "valid_bits_per_note")})
jig = folk.generate(n=1, seed=2, key="G", meter="6/8", bars=8, temperature=0.9)[0]
plot_piano_roll(jig, title="pretrained/folk: 8 bars of 6/8 in G")

# %%
listen(jig)

# %% [markdown]
# ## It is a Hugging Face model
#
# The run directory opens without Cadenza: `AutoModelForCausalLM` reads `config.json` and
# `model.safetensors`, and miditok reads `tokenizer.json`. Both give exactly Cadenza's numbers.

# %%
from miditok import REMI  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

folder = resolve_run("pretrained/folk")  # the checkpoint's folder inside the package
print(sorted(p.name for p in folder.iterdir()))
hf = AutoModelForCausalLM.from_pretrained(folder).eval()
remi = REMI.from_pretrained(folder)
ids = folk.tokenizer_.encode(melody(test[0], "Soprano"), style="essen")
with torch.no_grad():
    same = torch.allclose(hf(torch.tensor([ids])).logits, folk.net_(torch.tensor([ids])).logits, atol=1e-5)
print(type(hf).__name__, "| same logits as Cadenza's:", same, "| miditok vocabulary:", len(remi))

# %% [markdown]
# ## Looking inside
#
# Two pictures. First the same heat map as for the LSTM of the previous tutorial: at each note
# of a chorale melody the folk model has never seen, the probability it gave to every pitch
# before seeing it. Second the model's learned **embeddings** of the pitch tokens, projected on
# their first two principal components: the network was never told that pitch 60 and pitch 72
# are related, or which pitches are near each other.

# %%
tokenizer = folk.tokenizer_
with torch.no_grad():
    probs = torch.softmax(folk.net_(torch.tensor([ids])).logits[0], dim=-1).numpy()
pitch_ids = sorted(tokenizer.pitch_of, key=tokenizer.pitch_of.get)
pitches = np.array([tokenizer.pitch_of[i] for i in pitch_ids])
steps = [t for t in range(1, len(ids)) if ids[t] in tokenizer.pitch_of][:40]
heat = np.stack([probs[t - 1, pitch_ids] / probs[t - 1, pitch_ids].sum() for t in steps], axis=1)
shown = (pitches >= 55) & (pitches <= 81)

embeddings = folk.net_.get_input_embeddings().weight.detach().numpy()[pitch_ids]
centred = embeddings - embeddings.mean(axis=0)
xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T

fig = Figure(figsize=(12, 4))
left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
left.imshow(heat[shown], origin="lower", aspect="auto", cmap="viridis",
            extent=(-0.5, len(steps) - 0.5, pitches[shown][0] - 0.5, pitches[shown][-1] + 0.5))
left.plot(range(len(steps)), [tokenizer.pitch_of[ids[t]] for t in steps], "w.", markersize=8)
left.set_yticks([p for p in pitches[shown] if p % 12 in (0, 7)])
left.set_yticklabels([note_name(p) for p in pitches[shown] if p % 12 in (0, 7)])
left.set_xlabel("note")
left.set_title(f"pretrained/folk: P(pitch | before), {test.ids[0]} soprano")
points = right.scatter(xy[:, 0], xy[:, 1], c=pitches, cmap="viridis", s=18)
for p, (x, y) in zip(pitches, xy):
    if p % 12 == 0:
        right.annotate(note_name(p), (x, y), fontsize=8)
right.set_title("pitch embeddings, first two principal components")
fig.colorbar(points, ax=right, label="MIDI pitch")
fig.tight_layout()
fig

# %% [markdown]
# Where the LSTM's columns spread over the whole register, this model's probability sits on
# the notes of the key (F major here, from the `Key` token and the notes so far) and changes from
# note to note with the line. In the embedding plot the pitches the folk songs use lie on an
# ordered curve, low to high: the model has found from the data alone that pitch is a line,
# with octaves near each other. The pitches it never saw (the lowest and highest keys) sit
# together in a clump of their own.
#
# ## Fine-tuning on the Bach chorale melodies
#
# `from_checkpoint` starts a model from a Cadenza run, `pretrained/NAME`, or any local Hugging
# Face causal-LM directory (a bare GPT-2 directory works too: the embeddings are resized to the
# tokenizer). `finetune` trains it on new data and returns the validation loss, in nats a token,
# before and after. Thirty-two steps of four sequences, at a lower learning rate than from
# scratch (the dropout of the checkpoint, 0.1, stays on while it trains).

# %%
tuned, notes = from_checkpoint("pretrained/folk", max_steps=32, batch_size=4, steps_per_epoch=32,
                               learning_rate=1e-3, patience=0)
before, after = finetune(tuned, train, valid, workdir=workdir / "folk-bach")
print(f"valid loss {before:.3f} -> {after:.3f} nats a token", notes or "")
for name, model in (("pretrained/folk", folk), ("fine-tuned on Bach", tuned)):
    print(f"{name:20s} {model.log_prob(test).bits_per_event:.3f} bits per note on the test chorales' sopranos")

# %% [markdown]
# ## Against real melodies
#
# Five 4-bar melodies in G major and 4/4 from each model, against the soprano lines of the
# chorales. The fine-tuned model is asked for the `bach` style token it was trained with.

# %%
def soprano(pieces, label):
    return PieceSet(label, list(pieces.ids), [melody(s, "Soprano") for s in pieces])


reference = Reference("bach soprano", soprano(train, "bach soprano train"), soprano(test, "bach soprano test"))
reference.prepare()
sets = {"folk": folk.generate(n=5, seed=0, key="G", meter="4/4", bars=4, style="essen"),
        "folk + Bach": tuned.generate(n=5, seed=0, key="G", meter="4/4", bars=4, style="bach")}
results = [evaluate_set(PieceSet(k, [f"{k}-{i}" for i in range(5)], v), reference) for k, v in sets.items()]
display(metrics_table(results, reference), comparison_table(results, reference))

# %%
display(plot_piano_roll(sets["folk + Bach"][0], title="fine-tuned on Bach: 4 bars in G"),
        listen(sets["folk + Bach"][0]))

# %% [markdown]
# Thirty-two steps move the held-out loss and bits per note a little towards the chorales;
# the tables, from five melodies a model, show how far a folk model still is from them. More
# steps (the `cadenza finetune` command defaults to 300) move it further; watch the validation
# loss to see when it starts to forget the folk songs instead of learning the chorales.
#
# ## Save and load
#
# The fine-tuned run is a Hugging Face model directory again, and loads with Cadenza or with
# `transformers`.

# %%
run = tuned.save(workdir / "folk-bach")
again = cadenza.load(run)
assert again.generate(n=1, seed=0, key="G", meter="4/4", bars=4, style="bach")[0] == sets["folk + Bach"][0]
print(type(AutoModelForCausalLM.from_pretrained(run)).__name__, sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## Exercise
#
# 1. **Try another mask.** Sampling masks are logits set to minus infinity. Generate from
#    `pretrained/folk` with `key="D minor"` and `key_mask=False` (the key token conditions but
#    does not force), then with `low=62, high=74`: how many notes leave the key without the
#    mask, and what does the range mask do to the contour?
# 2. **From scratch, GPT-2 or Llama.** Train
#    `cadenza.create("transformer", layers=2, heads=2, dim=64, context=64, max_steps=200)` on the
#    chorale sopranos, then the same with `architecture="llama"` (rotary positions, RMSNorm,
#    SwiGLU), and compare their bits per note with the fine-tuned folk model's.
# 3. **Your own Hugging Face model.** Build a `transformers.GPT2LMHeadModel` from a
#    `GPT2Config` of your choice, `save_pretrained` it, and pass the folder to `from_checkpoint`:
#    read the note about the resized embeddings, fine-tune it, and compare it with fine-tuning
#    `pretrained/folk` for the same steps.
