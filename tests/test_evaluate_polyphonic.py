"""The piano-roll likelihood benchmark: protocol, hand-computed NLLs, published baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cadenza.errors import CadenzaError
from cadenza.evaluate.polyphonic import (
    PUBLISHED,
    PUBLISHED_RESULTS,
    BernoulliBaseline,
    FrameModel,
    FrameProbabilityModel,
    MarkovPitchBaseline,
    benchmark,
    evaluate_rolls,
)


def roll(rows):
    out = np.zeros((len(rows), 88), np.uint8)
    for t, keys in enumerate(rows):
        out[t, list(keys)] = 1
    return out


def test_bernoulli_nll_by_hand():
    train = [roll([{0}, {0}, {1}, set()])]  # key 0 on in 2 of 4 frames, key 1 in 1
    model = BernoulliBaseline().fit(train)
    assert model.p_[0] == pytest.approx(3 / 6) and model.p_[1] == pytest.approx(2 / 6)
    assert model.p_[5] == pytest.approx(1 / 6)
    test = roll([{0}, {1}, set()])  # frame 1 is not scored
    p = model.p_
    off = np.log1p(-p).sum()
    frame2 = off - math.log1p(-p[1]) + math.log(p[1])
    expected = -(frame2 + off) / 2
    result = evaluate_rolls(model, [test])
    assert result.nll == pytest.approx(expected) and result.frames == 2
    # All frames: frame 1 (key 0 on) from an empty past counts too.
    frame1 = off - math.log1p(-p[0]) + math.log(p[0])
    assert result.nll_all == pytest.approx(-(frame1 + frame2 + off) / 3) and result.frames_all == 3


def test_markov_pitch_counts_transitions():
    train = [roll([{0}, {0}, {0}, set(), set()])]
    model = MarkovPitchBaseline().fit(train)
    # key 0: on->on twice, on->off once, off->off once
    assert model.p_on_[1, 0] == pytest.approx(3 / 5)
    assert model.p_on_[0, 0] == pytest.approx(1 / 3)
    probs = model.frame_probabilities(roll([{0}, {0}, set()]))
    assert probs[1, 0] == pytest.approx(3 / 5) and probs[2, 0] == pytest.approx(3 / 5)


def test_any_object_with_frame_log_prob_plugs_in():
    class Uniform:
        def frame_log_prob(self, r):
            return np.full(len(r), 88 * math.log(0.5))

    assert isinstance(Uniform(), FrameModel) and not isinstance(Uniform(), FrameProbabilityModel)
    result = evaluate_rolls(Uniform(), [roll([set()] * 5), roll([{3}] * 3)])
    assert result.nll == pytest.approx(88 * math.log(2)) and result.frames == 4 + 2
    assert result.nll_all == pytest.approx(88 * math.log(2)) and result.frames_all == 5 + 3
    assert math.isnan(result.accuracy)
    with pytest.raises(CadenzaError):
        evaluate_rolls(object(), [roll([set()] * 3)])


def test_frame_accuracy_counts():
    class Oracle:  # predicts exactly the next frame
        def __init__(self, r):
            self.r = r

        def frame_probabilities(self, r):
            return self.r.astype(float)

    r = roll([{1}, {1, 2}, {3}])
    assert evaluate_rolls(Oracle(r), [r]).accuracy == 1.0
    half = roll([{1}, {1}, {3}])  # frame 2 misses key 2, frame 3 right: TP 2, FN 1
    assert evaluate_rolls(Oracle(half), [r]).accuracy == pytest.approx(2 / 3)


def test_jsb_baselines_near_published(jsb_path):
    # Independent keys and per-key Markov chains: about 11.1 and 10.5 nats a frame on JSB.
    assert benchmark("bernoulli", jsb_path).nll == pytest.approx(11.09, abs=0.05)
    markov = benchmark("markov-pitch", jsb_path)
    assert markov.nll == pytest.approx(10.49, abs=0.05) and markov.frames == 4648


def test_bad_inputs(tmp_path, jsb_path):
    with pytest.raises(CadenzaError):
        benchmark("nope", jsb_path)
    bad = tmp_path / "x.mat"
    bad.write_text("not a mat file")
    with pytest.raises(CadenzaError):
        benchmark("bernoulli", bad)


def test_first_frame_counts_only_in_the_all_frames_nll():
    class Unscored:  # does not score the first frame: NaN there, as the protocol says
        def frame_log_prob(self, r):
            out = np.full(len(r), -2.0)
            out[0] = np.nan
            return out

    class Sure:  # the first frame is certain, every later frame costs 2 nats
        def frame_log_prob(self, r):
            out = np.full(len(r), -2.0)
            out[0] = 0.0
            return out

    rolls = [roll([set()] * 4), roll([{1}] * 2)]
    result = evaluate_rolls(Unscored(), rolls)
    assert result.nll == pytest.approx(2.0) and math.isnan(result.nll_all)
    sure = evaluate_rolls(Sure(), rolls)
    assert sure.nll == pytest.approx(2.0) and sure.nll_all == pytest.approx(2.0 * 4 / 6)
    assert sure.as_dict()["nll_all_frames"] == sure.nll_all


def test_published_numbers_carry_their_kind_and_frame_count():
    jsb = {p.model: p for p in PUBLISHED_RESULTS["JSB_Chorales"]}
    assert (jsb["RNN-NADE"].nll, jsb["RNN-NADE"].kind) == (5.56, "exact")
    assert (jsb["SRNN"].nll, jsb["SRNN"].kind) == (4.74, "bound")
    assert (jsb["NASMC LV-RNN"].nll, jsb["NASMC LV-RNN"].kind) == (3.99, "estimate")
    assert jsb["RNN-RBM"].kind == "estimate" and jsb["TCN"].frames == "2..T" and jsb["SRNN"].frames == "all"
    notts = {p.model: p for p in PUBLISHED_RESULTS["Nottingham"]}
    assert (notts["RNN-NADE"].nll, notts["RNN-NADE"].kind) == (2.31, "exact")
    for rows in PUBLISHED_RESULTS.values():
        assert all(p.kind in ("exact", "bound", "estimate") and p.frames in ("2..T", "all") for p in rows)
    # The flat view names the kind in every label.
    assert any("bound" in label and nll == 4.74 for label, nll in PUBLISHED["JSB_Chorales"].items())
