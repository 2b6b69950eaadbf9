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
from cadenza.models.symbolic.polyphonic import PolyphonicModel
from cadenza.models.symbolic.polyphonic_net import MADE, NADE, FrameNet, KeyNeighbourhood
from cadenza.models.symbolic.polyphonic_system import PolyphonicSystem

TINY = dict(PolyphonicModel.tiny_config)


def _net(keys=6, seed=0, output="made", local=0):
    torch.manual_seed(seed)
    net = FrameNet(keys, hidden=8, layers=1, made_hidden=12, made_layers=2, dropout=0.0, skip=True,
                   output=output, local=local, local_hidden=10, tonal=bool(local)).eval()
    if local:
        with torch.no_grad():  # random key vectors too, so that every path could carry a leak
            for weight in net.local.parameters():
                weight.normal_()
    return net


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


@pytest.mark.parametrize("output, local", [("made", 0), ("nade", 0), ("made", 3)])
def test_frame_distribution_sums_to_one_by_enumeration(output, local):
    net = _net(keys=6, output=output, local=local)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))  # all 64 frames of 6 keys
    past = torch.tensor([[1.0, 0, 0, 1, 0, 1]]).expand(64, 1, 6)
    rolls = torch.cat([past, frames[:, None, :]], dim=1)  # [64, 2, 6]: same past, every next frame
    with torch.no_grad():
        logp = net.frame_log_prob(rolls)  # [64, 2]
    assert torch.exp(logp[:, 1].double()).sum().item() == pytest.approx(1.0, abs=1e-4)
    assert torch.exp(logp[:1, 0].double()).item() > 0
    # frame 0 (after silence) is a distribution too
    with torch.no_grad():
        first = net.frame_log_prob(frames[:, None, :])[:, 0]
    assert torch.exp(first.double()).sum().item() == pytest.approx(1.0, abs=1e-4)


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


def test_padded_frames_are_skipped_not_changed():
    net = _net(keys=6, local=3)
    rolls = (torch.rand(3, 7, 6) < 0.4).float()
    lengths = torch.tensor([7, 3, 5])
    with torch.no_grad():
        full, packed = net.frame_log_prob(rolls), net.frame_log_prob(rolls, lengths)
    for i, n in enumerate(lengths):
        assert torch.allclose(packed[i, :n], full[i, :n], rtol=1e-4, atol=1e-5) and torch.all(packed[i, n:] == 0)


def test_key_neighbourhood_sees_only_lower_keys_of_its_frame():
    torch.manual_seed(2)
    local = KeyNeighbourhood(keys=10, context=3, radius=4, hidden=16, tonal=True)
    x = torch.rand(10, requires_grad=True)
    previous, history, c = torch.rand(10), torch.rand(12), torch.randn(3)
    jacobian = torch.autograd.functional.jacobian(lambda v: local(v, previous, history, c), x)  # [out k, in j]
    upper = torch.triu(torch.ones(10, 10, dtype=torch.bool))
    assert torch.all(jacobian[upper] == 0)
    assert torch.any(jacobian[~upper] != 0)


def test_key_neighbourhood_is_transposition_equivariant():
    """Shift both frames by 5 semitones and the logits shift with them (but for the key vectors)."""
    torch.manual_seed(3)
    local = KeyNeighbourhood(keys=40, context=3, radius=6, hidden=16, tonal=True)
    with torch.no_grad():
        local.position.zero_()
        local.position[12].normal_()  # a key vector breaks it exactly where it sits
    x, previous = torch.zeros(40), torch.zeros(40)
    x[[14, 18, 21]] = 1
    previous[[12, 16, 19, 24]] = 1
    history, c = torch.rand(12), torch.randn(3)
    with torch.no_grad():
        logits = local(x, previous, history, c)
        shifted = local(torch.roll(x, 5), torch.roll(previous, 5), torch.roll(history, 5), c)
    interior = torch.arange(20, 30)  # far from the edges and from key 12
    assert torch.allclose(shifted[interior], logits[interior - 5], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(shifted[12 + 5], logits[12], atol=1e-3)


def test_weight_average_is_what_is_validated_and_kept():
    config = PolyphonicModel.Config(**{**TINY, "average": 0.5})
    system = PolyphonicSystem(_net(keys=6), config)
    assert not any(p.requires_grad for p in system.average.parameters())
    assert {id(p) for g in system.configure_optimizers()["optimizer"].param_groups for p in g["params"]} == \
        {id(p) for p in system.model.parameters()}
    before = [p.clone() for p in system.average.parameters()]
    with torch.no_grad():
        for weight in system.model.parameters():
            weight.add_(1.0)
    system.on_train_batch_end(None, None, 0)  # step 0: decay min(0.5, 1/10)
    for mean, old, weight in zip(system.average.parameters(), before, system.model.parameters()):
        assert torch.allclose(mean, 0.1 * old + 0.9 * weight)
    assert system.kept is system.average
    plain = PolyphonicSystem(_net(keys=6), PolyphonicModel.Config(**TINY))
    assert plain.average is None and plain.kept is plain.model


@pytest.mark.parametrize("output, local", [("made", 0), ("nade", 0), ("made", 3)])
def test_frame_t_does_not_depend_on_later_frames(output, local):
    net = _net(keys=6, output=output, local=local)
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


def test_transposition_mixture_is_exact(trained):
    """Its conditionals multiply to the mean of the transposed models' piece probabilities."""
    model, rolls, _ = trained
    roll = rolls[9]
    alone = model.frame_log_prob(roll)
    mixed = PolyphonicModel(**{**TINY, "mixture": 2})
    mixed.net_, mixed.data_spec_ = model.net_, {}
    totals = np.array([model.frame_log_prob(np.roll(roll, s, axis=1)).sum() for s in range(-2, 3)])
    expected = np.logaddexp.reduce(totals) - np.log(5)
    conditionals = mixed.frame_log_prob(roll)
    assert conditionals.sum() == pytest.approx(expected, rel=1e-5)
    assert not np.allclose(conditionals, alone)
    assert conditionals[0] == pytest.approx(np.logaddexp.reduce(
        [model.frame_log_prob(np.roll(roll, s, axis=1))[0] for s in range(-2, 3)]) - np.log(5), rel=1e-5)


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


@pytest.mark.parametrize("options", [{"output": "nade"},
                                     {"local": 4, "local_hidden": 8, "tonal": True, "average": 0.9, "mixture": 2}])
def test_other_outputs_train_and_round_trip(tmp_path, options):
    rolls = _chorale_rolls(n=6)
    model = cadenza.create("polyphonic", **{**TINY, **options, "max_steps": 20})
    model.fit_rolls(rolls[:4], rolls[4:], workdir=tmp_path / "work")
    assert evaluate_rolls(model, rolls[4:]).nll < 50  # 88 fair coins: 61 nats
    loaded = cadenza.load(model.save(tmp_path / "run"))
    assert evaluate_rolls(loaded, rolls).nll == evaluate_rolls(model, rolls).nll
    assert loaded.generate(n=1, seed=0, length=6)[0].note_num() >= 0


def test_bad_options_are_clear_errors():
    with pytest.raises(CadenzaError, match="output"):
        cadenza.create("polyphonic", output="rbm")
    with pytest.raises(CadenzaError, match="skip"):
        cadenza.create("polyphonic", local=4, skip=False)
    with pytest.raises(CadenzaError, match="average"):
        cadenza.create("polyphonic", average=1.0)


def test_shipped_jsb_model_reproduces_its_recorded_test_nll(jsb_path, one_torch_thread):
    from cadenza.data.polyphonic import load_piano_rolls

    model = cadenza.load("pretrained/jsb")
    result = evaluate_rolls(model, load_piano_rolls(jsb_path, "test"))
    assert result.nll == pytest.approx(model.metrics_["test_nll"], rel=1e-4)
    assert result.nll < 4.74  # SRNN's bound, the target
