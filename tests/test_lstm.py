"""The folk-rnn style LSTM: training, the stop token, temperature, likelihood, files."""

from __future__ import annotations

import numpy as np
import pytest

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.base import build_dataclass

CONFIG = {"layers": 2, "hidden": 48, "embedding": 16, "context": 64, "batch_size": 8, "max_steps": 30,
          "steps_per_epoch": 10, "transpose": 2, "dropout": 0.1, "learning_rate": 1e-2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tiny_corpus):
    return cadenza.create("lstm", **CONFIG).fit(tiny_corpus, valid=tiny_corpus[:2])


def test_training_lowers_the_loss(trained, tiny_corpus):
    untrained = cadenza.create("lstm", **CONFIG)
    untrained.tokenizer_ = trained.tokenizer_
    fresh = untrained._build_net(trained.tokenizer_.vocab_size)
    assert trained.valid_loss(tiny_corpus[:4]) < trained.valid_loss(tiny_corpus[:4], net=fresh) - 0.5


def test_sampling_ends_with_the_stop_token(trained):
    tok = trained.tokenizer_
    options = build_dataclass(trained.Sampling, {}, "x")
    ended = 0
    for seed in range(4):
        ids = trained.sample_ids(np.random.default_rng(seed), options)
        assert ids[0] == tok.bos
        ended += ids[-1] == tok.eos
        assert tok.eos not in ids[:-1]
    assert ended >= 2  # a trained model chooses to stop within 4 x context tokens


def test_temperature_sharpens(trained):
    def distinct(temperature):
        pieces = trained.generate(n=4, seed=0, temperature=temperature, length=16)
        return len({n.pitch for p in pieces for n in p.tracks[0].notes})
    assert distinct(0.05) <= distinct(2.0)


def test_likelihood_runs_over_whole_pieces(trained, tiny_corpus):
    lp = trained.log_prob(tiny_corpus[:3])
    assert lp.events == sum(trained.tokenizer_.notes_in(trained.tokenizer_.encode(p)) for p in tiny_corpus[:3])
    assert 0 < lp.bits_per_event < 40


def test_save_load_and_missing_tokenizer(trained, tmp_path):
    run = trained.save(tmp_path / "run")
    loaded = cadenza.load(run)
    def midi(model):
        return [p.dumps_midi() for p in model.generate(n=2, seed=4)]

    assert midi(loaded) == midi(trained)
    (run / "tokenizer.json").unlink()
    with pytest.raises(CadenzaError, match="tokenizer.json"):
        cadenza.load(run)


def test_tsd_tokens_train_and_generate(tiny_corpus):
    model = cadenza.create("lstm", **{**CONFIG, "tokenizer": "TSD", "max_steps": 4})
    model.fit(list(tiny_corpus)[:6])
    piece = model.generate(n=1, seed=0, length=10)[0]
    assert 1 <= len(piece.tracks[0].notes) <= 10


def test_bad_config_is_a_clear_error():
    with pytest.raises(CadenzaError):
        cadenza.create("lstm", dropout=1.5)
    with pytest.raises(CadenzaError):
        cadenza.create("lstm", tokenizer="Octuple")
