"""The Hugging Face transformer: its run directory, sampling controls and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import cadenza
from cadenza.data import token_grammar as G
from cadenza.errors import CadenzaError
from cadenza.music.io import write_midi

CONFIG = {"layers": 1, "heads": 2, "dim": 32, "context": 96, "batch_size": 8, "max_steps": 16, "steps_per_epoch": 8,
              "transpose": 2, "dropout": 0.0, "learning_rate": 3e-3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tiny_corpus):
    return cadenza.create("transformer", **CONFIG).fit(tiny_corpus)


@pytest.fixture(scope="module")
def run(trained, tmp_path_factory):
    return trained.save(tmp_path_factory.mktemp("tr") / "run")


def test_run_directory_loads_without_cadenza(run, trained):
    from miditok import REMI
    from transformers import AutoModelForCausalLM

    net = AutoModelForCausalLM.from_pretrained(run)
    tok = REMI.from_pretrained(run)
    assert net.config.model_type == "gpt2"
    assert len(tok) == net.get_input_embeddings().weight.shape[0]
    x = torch.tensor([[tok["BOS_None"], tok["Style_bach"]]])
    assert torch.allclose(net(x).logits, trained.net_(x).logits, rtol=1e-4, atol=1e-4)
    assert {"config.json", "model.safetensors", "tokenizer.json", "cadenza.json"} <= {p.name for p in run.iterdir()}


def test_llama_variant_trains_and_saves(tiny_corpus, tmp_path):
    model = cadenza.create("transformer", **{**CONFIG, "architecture": "llama", "max_steps": 4})
    model.fit(list(tiny_corpus)[:6])
    loaded = cadenza.load(model.save(tmp_path / "llama"))
    assert json.loads((tmp_path / "llama" / "config.json").read_text())["model_type"] == "llama"
    def first(m):
        return m.generate(n=1, seed=0, length=8)[0].dumps_midi()

    assert first(loaded) == first(model)


def test_kv_cache_gives_the_same_tokens(trained):
    options = {"length": 20}
    a = trained.generate(n=2, seed=5, cache=True, **options)
    b = trained.generate(n=2, seed=5, cache=False, **options)
    assert [p.dumps_midi() for p in a] == [p.dumps_midi() for p in b]


def test_key_range_and_conditioning(trained):
    allowed = G.pitch_constraint("D minor", 62, 74)
    for piece in trained.generate(n=3, seed=1, key="D minor", low=62, high=74, style="essen", meter="3/4"):
        assert all(n.pitch in allowed for n in piece.tracks[0].notes)
    model = trained
    options = cadenza.models.base.build_dataclass(
        model.Sampling, {"key": "D minor", "style": "essen", "meter": "3/4"}, "x")
    ids = model.sample_ids(np.random.default_rng(0), options)
    assert [model.tokenizer_.base_names[i] for i in ids[1:4]] == ["Style_essen", "Key_Dm", "Meter_3/4"]


def test_length_in_bars_and_notes(trained):
    tok = trained.tokenizer_
    options = cadenza.models.base.build_dataclass(trained.Sampling, {"bars": 2}, "x")
    for seed in range(3):
        ids = trained.sample_ids(np.random.default_rng(seed), options)
        assert sum(1 for b in tok.expand(ids) if tok.base_types[b] == "Bar") <= 2
    for piece in trained.generate(n=3, seed=0, length=5):
        assert 1 <= len(piece.tracks[0].notes) <= 5


def test_primer_is_continued(trained, tiny_corpus, tmp_path):
    from cadenza.music.transforms import melody

    primer = melody(tiny_corpus[2])
    primer.tracks[0].notes = primer.tracks[0].notes[:6]
    path = write_midi(primer, tmp_path / "primer.mid")
    piece = trained.generate(n=1, seed=0, primer=str(path), length=8)[0]
    got = [(n.time, n.pitch) for n in piece.tracks[0].notes]
    want = [(n.time, n.pitch) for n in primer.tracks[0].notes]
    assert got[:6] == want
    assert 6 < len(got) <= 14
    with pytest.raises(CadenzaError, match="primer"):
        trained.generate(n=1, seed=0, primer=str(write_midi(melody(tiny_corpus[2]), tmp_path / "long.mid")),
                         max_tokens=20)


def test_bits_per_note_match_the_training_loss_scale(trained, tiny_corpus):
    lp = trained.log_prob(tiny_corpus[:2])
    notes = sum(len(trained.tokenizer_.decode(trained.tokenizer_.encode(p)).tracks[0].notes)
                for p in tiny_corpus[:2])
    assert lp.events == notes
    # a trained model beats a uniform guess over the vocabulary
    tokens = sum(len(trained.tokenizer_.encode(p)) - 1 for p in tiny_corpus[:2])
    assert -lp.total < tokens * np.log(trained.tokenizer_.vocab_size)


def test_missing_files_and_mismatch_are_clear_errors(run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(CadenzaError, match="tokenizer.json"):
        cadenza.load(broken)
    other = tmp_path / "other"
    shutil.copytree(run, other)
    record = json.loads((other / "config.json").read_text())
    record["vocab_size"] += 5
    (other / "config.json").write_text(json.dumps(record))
    with pytest.raises(CadenzaError):
        cadenza.load(other)


def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(tiny_corpus, tmp_path, monkeypatch):
    model = cadenza.create("transformer", **{**CONFIG, "max_steps": 6, "steps_per_epoch": 3})
    model.fit(tiny_corpus, valid=tiny_corpus[:2], workdir=tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    from cadenza.models.symbolic.transformer import Transformer

    def poisoned(net, input_ids, attention_mask):
        return net(input_ids=input_ids).logits * float("nan")
    monkeypatch.setattr(Transformer, "_logits", staticmethod(poisoned))
    again = cadenza.create("transformer", **{**CONFIG, "max_steps": 12, "steps_per_epoch": 3})
    with pytest.raises(CadenzaError, match="diverged"):
        again.fit(tiny_corpus, valid=tiny_corpus[:2], workdir=tmp_path)
    assert last.read_bytes() == before


def test_corpus_too_small_for_one_batch(tiny_corpus):
    with pytest.raises(CadenzaError, match="too small"):
        cadenza.create("transformer", **{**CONFIG, "batch_size": 512}).fit(tiny_corpus[:1])


@pytest.mark.parametrize("name", ["folk", "chorale"])
def test_shipped_checkpoints_load_and_generate(name):
    from cadenza.models.base import pretrained_dir

    if not (pretrained_dir() / name / "cadenza.json").is_file():
        pytest.skip(f"pretrained/{name} not trained (scripts/train_pretrained.py)")
    model = cadenza.load(f"pretrained/{name}")
    assert sum(f.stat().st_size for f in (pretrained_dir() / name).iterdir()) < 10e6
    piece = model.generate(n=1, seed=0, bars=2)[0]
    assert 0 < piece.note_num() and piece.end() <= 3 * 4 * 480  # two bars, and the last notes may ring on
