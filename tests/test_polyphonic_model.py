"""The polyphonic frame model: an exact, normalised, causal distribution that trains."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import cadenza
from cadenza.errors import CadenzaError
from cadenza.evaluate.polyphonic import FrameModel, FrameProbabilityModel, evaluate_rolls

pytest.importorskip("lightning")
from cadenza.models.symbolic.polyphonic import MADE, NADE, FrameNet, PolyphonicModel  # noqa: E402

TINY = dict(PolyphonicModel.tiny_config)


def _net(keys=6, seed=0, output="made"):
    torch.manual_seed(seed)
    return FrameNet(keys, hidden=8, layers=1, made_hidden=12, made_layers=2, dropout=0.0, skip=True,
                    output=output).eval()


def _chorale_rolls(n=12, length=24, seed=0):
    """Four-voice block chords moving by step: enough structure to learn in a few steps."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(n):
        roll = np.zeros((length, 88), np.uint8)
        root = rng.integers(30, 50)
        for t in range(length):
            chord = root + np.array([0, 7, 12, 16]) + 2 * (t % 4)
            roll[t, chord] = 1
        rolls.append(roll)
    return rolls


@pytest.mark.parametrize("output", ["made", "nade"])
def test_frame_distribution_sums_to_one_by_enumeration(output):
    net = _net(keys=6, output=output)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))  # all 64 frames of 6 keys
    past = torch.tensor([[1.0, 0, 0, 1, 0, 1]]).expand(64, 1, 6)
    rolls = torch.cat([past, frames[:, None, :]], dim=1)  # [64, 2, 6]: same past, every next frame
    with torch.no_grad():
        logp = net.frame_log_prob(rolls)  # [64, 2]
    assert torch.exp(logp[:, 1].double()).sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.exp(logp[:1, 0].double()).item() > 0
    # frame 0 (after silence) is a distribution too
    with torch.no_grad():
        first = net.frame_log_prob(frames[:, None, :])[:, 0]
    assert torch.exp(first.double()).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_made_conditional_k_sees_only_lower_keys():
    torch.manual_seed(1)
    made = MADE(keys=10, context=3, hidden=20, layers=2)
    x = torch.rand(10, requires_grad=True)
    c = torch.randn(3)
    jacobian = torch.autograd.functional.jacobian(lambda v: made(v, c), x)  # [out k, in j]
    upper = torch.triu(torch.ones(10, 10, dtype=torch.bool))  # j >= k
    assert torch.all(jacobian[upper] == 0)
    assert torch.any(jacobian[~upper] != 0)  # and it does use the keys below


def test_nade_conditional_k_sees_only_lower_keys():
    torch.manual_seed(1)
    nade = NADE(keys=10, context=3, hidden=20)
    with torch.no_grad():
        nade.weight.normal_()  # the small initial weights would make the test weak, not wrong
    x = torch.rand(10, requires_grad=True)
    c = torch.randn(3)
    jacobian = torch.autograd.functional.jacobian(lambda v: nade(v, c), x)  # [out k, in j]
    upper = torch.triu(torch.ones(10, 10, dtype=torch.bool))  # j >= k
    assert torch.all(jacobian[upper] == 0)
    assert torch.all(jacobian[~upper] != 0)  # every lower key reaches every conditional


@pytest.mark.parametrize("output", ["made", "nade"])
def test_frame_t_does_not_depend_on_later_frames(output):
    net = _net(keys=6, output=output)
    rolls = (torch.rand(1, 8, 6) < 0.4).float()
    changed = rolls.clone()
    changed[0, 5:] = 1 - changed[0, 5:]
    with torch.no_grad():
        a, b = net.frame_log_prob(rolls)[0], net.frame_log_prob(changed)[0]
    assert torch.equal(a[:5], b[:5]) and not torch.equal(a[5:], b[5:])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rolls = _chorale_rolls()
    model = cadenza.create("polyphonic", **{**TINY, "max_steps": 40})
    untrained = PolyphonicModel(**TINY)
    torch.manual_seed(TINY.get("seed", 0))
    untrained.net_ = untrained._new_net().eval()
    untrained.data_spec_ = {}
    before = evaluate_rolls(untrained, rolls[8:]).nll
    model.fit_rolls(rolls[:8], rolls[8:], workdir=tmp_path_factory.mktemp("poly"), data={"what": "synthetic"})
    return model, rolls, before


def test_training_lowers_the_valid_nll(trained):
    model, rolls, before = trained
    after = evaluate_rolls(model, rolls[8:]).nll
    assert after < before - 5  # from about 61 nats (88 fair coins) well down
    assert model.metrics_["best_valid_loss"] == pytest.approx(after, rel=1e-4)
    assert model.data_spec_ == {"what": "synthetic"}


def test_benchmark_protocol_and_log_prob_agree(trained, tiny_corpus):
    model, rolls, _ = trained
    assert isinstance(model, FrameModel) and not isinstance(model, FrameProbabilityModel)
    logp = [model.frame_log_prob(r) for r in rolls[8:]]
    expected = -sum(lp[1:].sum() for lp in logp) / sum(lp.size - 1 for lp in logp)
    assert evaluate_rolls(model, rolls[8:]).nll == pytest.approx(expected)
    # log_prob on Scores: every frame of the quarter-note roll, frame 0 included
    from cadenza.data.polyphonic import score_to_roll

    pieces = list(tiny_corpus[:2])
    result = model.log_prob(pieces)
    frames = [model.frame_log_prob(score_to_roll(p)) for p in pieces]
    assert result.events == sum(f.size for f in frames)
    assert result.total == pytest.approx(sum(f.sum() for f in frames))


def test_save_load_gives_the_same_nll(trained, tmp_path):
    model, rolls, _ = trained
    loaded = cadenza.load(model.save(tmp_path / "run"))
    assert evaluate_rolls(loaded, rolls).nll == evaluate_rolls(model, rolls).nll


def test_generated_frames_follow_the_training_chords(trained):
    model, _, _ = trained
    piece = model.generate(n=1, seed=0, length=12)[0]
    assert piece.note_num() > 0
    guess = model.predict_frames(_chorale_rolls(1)[0])
    assert guess.shape == (24, 88) and set(np.unique(guess)) <= {0, 1}


def test_bad_input_is_a_clear_error(trained):
    model, _, _ = trained
    with pytest.raises(CadenzaError, match="shape"):
        model.frame_log_prob(np.zeros((4, 12)))
    with pytest.raises(CadenzaError, match="dropout"):
        cadenza.create("polyphonic", dropout=1.5)
    with pytest.raises(CadenzaError, match="not trained"):
        cadenza.create("polyphonic").frame_log_prob(np.zeros((4, 88)))


def test_nade_output_trains_and_round_trips(tmp_path):
    rolls = _chorale_rolls(n=6)
    model = cadenza.create("polyphonic", **{**TINY, "output": "nade", "max_steps": 20})
    model.fit_rolls(rolls[:4], rolls[4:], workdir=tmp_path / "work")
    assert evaluate_rolls(model, rolls[4:]).nll < 50  # 88 fair coins: 61 nats
    loaded = cadenza.load(model.save(tmp_path / "run"))
    assert evaluate_rolls(loaded, rolls).nll == evaluate_rolls(model, rolls).nll
    assert loaded.generate(n=1, seed=0, length=6)[0].note_num() >= 0
    with pytest.raises(CadenzaError, match="output"):
        cadenza.create("polyphonic", output="rbm")
