"""Latent-space tools (cadenza.models.latent), the `cadenza latent` commands and the studio's Latent
tab, against a small deterministic LatentSpace model defined here (no trained network needed)."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.audio.io import Audio
from cadenza.errors import CadenzaError
from cadenza.models import latent as lt
from cadenza.models.abilities import LatentSpace
from cadenza.models.base import Generator
from cadenza.models.latent import LatentPCA
from cadenza.testing import registered
from support import run_cli

RATE, HOP, SIZE = 8000, 100, 4
PROJECTIONS = (np.random.default_rng(0).standard_normal((SIZE, HOP)) / np.sqrt(HOP)).astype(np.float32)
FREQS = np.array([220.0, 330.0, 440.0, 660.0])


class FakeLatent(Generator, LatentSpace):
    """Latent: fixed random projections of frames of HOP samples; decode: sines whose amplitudes
    follow the latent. It records what it encodes and decodes."""

    name = "fakelatent"
    domain = "audio"
    needs_fit = False
    learns_from_data = False
    controls = ("audio", "latent")
    sample_rate = RATE
    latent_size = SIZE
    frame_rate = RATE / HOP

    def __init__(self, **config):
        super().__init__(**config)
        self.pca_: LatentPCA | None = None
        self.encoded: list[Audio] = []
        self.decoded: list[np.ndarray] = []

    def encode(self, audio):
        self.encoded.append(audio)
        x = audio.samples[0]
        frames = x[: len(x) // HOP * HOP].reshape(-1, HOP)  # [F, HOP]
        return PROJECTIONS @ frames.T  # [SIZE, F]

    def decode(self, latent):
        self.decoded.append(np.array(latent))
        amplitude = np.repeat(latent, HOP, axis=1)  # [SIZE, F * HOP]
        t = np.arange(amplitude.shape[1]) / RATE
        return Audio((0.05 * (amplitude * np.sin(2 * np.pi * FREQS[:, None] * t)).sum(0))[None], RATE)

    def _generate_one(self, rng, options):
        return self.decode(rng.standard_normal((SIZE, 20)).astype(np.float32))

    def _state(self):
        return (self.pca_.to_arrays() if self.pca_ is not None else {}), {}

    def _expected_arrays(self, extra, directory, header):
        return LatentPCA.array_spec(SIZE) if "pca.mean" in header else {}

    def _load_state(self, arrays, extra):
        self.pca_ = LatentPCA.from_arrays(arrays, SIZE) if arrays else None


def clip(seed: int, seconds: float = 0.5, rate: int = RATE) -> Audio:
    """Noise under a slow random envelope: latent frames that vary."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    envelope = np.interp(np.arange(n), np.linspace(0, n, 6), rng.uniform(0.1, 0.5, 6))
    return Audio((envelope * rng.standard_normal(n))[None].astype(np.float32), rate)


def low_rank(seed: int = 0, frames: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Latents [8, frames] made from 3 factors (of decreasing spread), and the mixing matrix [8, 3]."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((8, 3))
    factors = rng.standard_normal((3, frames)) * np.array([[2.0], [1.5], [1.0]])
    return (mixing @ factors + rng.standard_normal((8, 1))).astype(np.float32), mixing


@pytest.fixture
def model():
    return FakeLatent()


@pytest.fixture
def fitted(model):
    model.pca_ = lt.fit_pca(model, [clip(i) for i in range(4)])
    return model


# --- the PCA --------------------------------------------------------------------------------

def test_pca_recovers_a_low_rank_latent():
    z, mixing = low_rank()
    pca = LatentPCA().fit([z[:, :150], z[:, 150:]])
    assert pca.dims_for(0.99) == 3 and pca.dims_for(1.0) == 3
    assert pca.dims_for(0.5) < 3
    curve = pca.fidelity_curve()
    assert np.all(np.diff(curve) >= -1e-7) and curve[-1] == pytest.approx(1.0, abs=1e-6)
    assert pca.explained_variance_ratio_.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(pca.explained_variance_) <= 1e-6)  # by decreasing variance
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(8), atol=1e-5)
    # the first three axes span the mixing matrix's columns; the others are orthogonal to them
    top = pca.components_[:3].astype(np.float64)
    np.testing.assert_allclose(top.T @ (top @ mixing), mixing, atol=1e-4)
    np.testing.assert_allclose(pca.transform(z)[3:], 0, atol=1e-4)
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(z)), z, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(pca.mean_, z.mean(axis=1), rtol=1e-5, atol=1e-5)
    assert lt.active_dimensions(pca, 0.99) == (3, 3 / 8)


def test_pca_signs_are_deterministic():
    z, _ = low_rank(1)
    first = LatentPCA().fit(z)
    rows = np.arange(8)
    assert np.all(first.components_[rows, np.abs(first.components_).argmax(axis=1)] > 0)
    # the same frames in another order and split give the same axes, signs included
    order = np.random.default_rng(2).permutation(z.shape[1])
    again = LatentPCA().fit([z[:, order[:100]], z[:, order[100:]]])
    np.testing.assert_allclose(again.components_[:3], first.components_[:3], atol=1e-5)
    np.testing.assert_array_equal(LatentPCA().fit(z).components_, first.components_)


def test_pca_save_and_load_round_trip():
    pca = LatentPCA().fit(low_rank()[0])
    arrays = pca.to_arrays()
    assert sorted(arrays) == ["pca.components", "pca.mean", "pca.variance"]
    assert all(a.dtype == np.float32 for a in arrays.values())
    back = LatentPCA.from_arrays(arrays, latent_size=8)
    for name in ("mean_", "components_", "explained_variance_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(pca, name))
    assert back.dims_for(0.95) == pca.dims_for(0.95)
    assert set(LatentPCA.array_spec(8)) == set(arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("pca.variance"), "pca.variance is missing"),
    (lambda a: a.update({"pca.mean": a["pca.mean"][:5]}), r"pca.mean has shape \[5\], expected \[8\]"),
    (lambda a: a.update({"pca.components": a["pca.components"][:, :7]}), "pca.components has shape"),
    (lambda a: a["pca.mean"].__setitem__(0, np.nan), "pca.mean holds NaN"),
    (lambda a: a["pca.variance"].__setitem__(0, -1.0), "must not be negative"),
    (lambda a: a["pca.components"].__setitem__((0, 0), 5.0), "not orthonormal"),
])
def test_damaged_pca_arrays_are_refused_in_one_line(change, message):
    arrays = {k: v.copy() for k, v in LatentPCA().fit(low_rank()[0]).to_arrays().items()}
    change(arrays)
    with pytest.raises(CadenzaError, match=message):
        LatentPCA.from_arrays(arrays, latent_size=8)


def test_a_run_keeps_its_pca(fitted, tmp_path):
    import cadenza

    with registered(FakeLatent):
        loaded = cadenza.load(fitted.save(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.pca_.components_, fitted.pca_.components_)
    assert lt.model_pca(loaded) is loaded.pca_


@pytest.mark.parametrize("fidelity", [0, -0.1, 1.01, float("nan"), "high"])
def test_fidelity_out_of_range_is_refused(fidelity):
    with pytest.raises(CadenzaError, match="fidelity must be"):
        LatentPCA().fit(low_rank()[0]).dims_for(fidelity)


@pytest.mark.parametrize("latents, message", [
    ([], "no latents"),
    ([np.zeros(8)], r"expected shape \[latent_size, frames\]"),
    ([np.ones((8, 5)), np.ones((7, 5))], r"latent 1: expected shape \[8, frames\], got \[7, 5\]"),
    ([np.full((8, 5), np.nan)], "NaN"),
    ([np.ones((8, 1))], "at least 2 latent frames"),
])
def test_bad_latents_are_refused(latents, message):
    with pytest.raises(CadenzaError, match=message):
        LatentPCA().fit(latents)


def test_frames_that_do_not_vary_crop_nothing():
    # silence, or an encoder that has not learned yet: every axis is kept, a move does nothing
    pca = LatentPCA().fit(np.ones((8, 10), np.float32))
    assert pca.degenerate and pca.dims_for(0.5) == 8
    np.testing.assert_array_equal(pca.std_, 0)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(8), atol=1e-6)
    z = np.ones((8, 3), np.float32)
    np.testing.assert_array_equal(lt.shift_latent(z, {0: 2.0}, pca), z)
    assert LatentPCA.from_arrays(pca.to_arrays()).degenerate


def test_pca_checks_shapes_and_fitting():
    with pytest.raises(CadenzaError, match="not fitted"):
        LatentPCA().transform(np.zeros((8, 3)))
    pca = LatentPCA().fit(low_rank()[0])
    with pytest.raises(CadenzaError, match=r"expected shape \[8, frames\]"):
        pca.transform(np.zeros((4, 3)))


def test_the_fidelity_plot_is_a_png(tmp_path):
    path = LatentPCA().fit(low_rank()[0]).plot(tmp_path / "fidelity.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


# --- model tools ------------------------------------------------------------------------------

def test_fit_pca_conforms_clips_to_the_models_rate(model):
    stereo = Audio(np.stack([clip(1, rate=16000).samples[0]] * 2), 16000)
    pca = lt.fit_pca(model, [clip(0), stereo])
    assert pca.latent_size == SIZE
    assert [(a.sample_rate, a.channels) for a in model.encoded] == [(RATE, 1), (RATE, 1)]


def test_a_model_without_a_latent_space_is_refused():
    import cadenza

    with pytest.raises(CadenzaError, match="lsystem has no latent space"):
        lt.fit_pca(cadenza.create("lsystem"), [clip(0)])
    with pytest.raises(CadenzaError, match="no latent space"):
        lt.interpolate(object(), clip(0), clip(1))


def test_stepped_interpolation_starts_and_ends_on_the_two_sounds(model):
    a, b = clip(0, 0.5), clip(1, 0.3)  # b is shorter: a's latent is cut to b's 24 frames
    za, zb = model.encode(a)[:, :24], model.encode(b)
    butted = lt.interpolate(model, a, b, steps=3, crossfade=0)
    ends = [model.decode(za), model.decode(model.encode(b))]
    n = len(ends[0])
    assert len(butted) == 3 * n
    np.testing.assert_allclose(butted.samples[:, :n], ends[0].samples, atol=1e-6)
    np.testing.assert_allclose(butted.samples[:, -n:], ends[1].samples, atol=1e-6)
    middle = model.decode(0.5 * za + 0.5 * zb)
    np.testing.assert_allclose(butted.samples[:, n:2 * n], middle.samples, atol=1e-6)
    # with a crossfade the segments overlap; away from the joins each is heard as decoded
    faded = lt.interpolate(model, a, b, steps=3, crossfade=0.01)
    fade = int(0.01 * RATE)
    assert len(faded) == 3 * n - 2 * fade
    np.testing.assert_allclose(faded.samples[:, :n - fade], ends[0].samples[:, :n - fade], atol=1e-6)
    np.testing.assert_allclose(faded.samples[:, -(n - fade):], ends[1].samples[:, fade:], atol=1e-6)


def test_morph_moves_from_one_latent_to_the_other_over_time(model):
    a, b = clip(0, 0.5), clip(1, 0.4)
    za, zb = model.encode(a), model.encode(b)
    out = lt.interpolate(model, a, b, morph=True)
    frames = zb.shape[1]
    assert len(out) == frames * HOP == len(model.decode(zb))
    latent = model.decoded[-2]  # the last is the test's own decode(zb)
    np.testing.assert_allclose(latent[:, 0], za[:, 0], atol=1e-6)
    np.testing.assert_allclose(latent[:, -1], zb[:, -1], atol=1e-6)
    middle = frames // 2
    t = middle / (frames - 1)
    np.testing.assert_allclose(latent[:, middle], (1 - t) * za[:, middle] + t * zb[:, middle], atol=1e-5)


def test_seconds_sets_the_length_looping_a_short_latent(model):
    out = lt.interpolate(model, clip(0, 0.2), clip(1, 0.2), morph=True, seconds=0.5)
    assert len(out) == 40 * HOP  # 0.5 s at 80 frames a second, from 16-frame latents
    steps = lt.interpolate(model, clip(0, 0.2), clip(1, 0.2), steps=2, seconds=0.1, crossfade=0)
    assert len(steps) == 2 * 8 * HOP


@pytest.mark.parametrize("options, message", [
    ({"steps": 1}, "steps must be a whole number from 2"),
    ({"steps": 2.5}, "steps must be"),
    ({"seconds": 0}, "seconds must be above 0"),
    ({"seconds": float("nan")}, "seconds must be"),
    ({"crossfade": -1}, "crossfade must be"),
])
def test_bad_interpolation_options_are_refused(model, options, message):
    with pytest.raises(CadenzaError, match=message):
        lt.interpolate(model, clip(0), clip(1), **options)


def test_offset_along_a_pca_axis_moves_the_latent_by_that_many_deviations(fitted):
    audio = clip(5)
    z = fitted.encode(audio)
    lt.offset(fitted, audio, {1: 1.5}, fitted.pca_)
    moved = fitted.decoded[-1] - z
    expected = 1.5 * fitted.pca_.std_[1] * fitted.pca_.components_[1]
    np.testing.assert_allclose(moved, np.repeat(expected[:, None], z.shape[1], axis=1), atol=1e-5)
    # measured on the principal axes: axis 1 moved by 1.5 sd, the others not at all
    shift = (fitted.pca_.transform(fitted.decoded[-1]) - fitted.pca_.transform(z)) / fitted.pca_.std_[:, None]
    np.testing.assert_allclose(shift, np.array([0, 1.5, 0, 0])[:, None] * np.ones_like(z), atol=1e-4)


def test_offset_without_a_pca_moves_raw_dimensions(model):
    audio = clip(5)
    z = model.encode(audio)
    out = lt.offset(model, audio, [0.0, 0.0, -2.0])  # a list: entry i is axis i
    np.testing.assert_allclose(model.decoded[-1] - z, np.array([0, 0, -2.0, 0])[:, None] * np.ones_like(z),
                               atol=1e-6)
    assert isinstance(out, Audio) and len(out) == z.shape[1] * HOP


def test_scale_multiplies_the_deviation_along_an_axis(fitted):
    audio = clip(6)
    z = fitted.encode(audio)
    lt.scale(fitted, audio, {0: 0.0, 2: 2.0}, fitted.pca_)
    before, after = fitted.pca_.transform(z), fitted.pca_.transform(fitted.decoded[-1])
    np.testing.assert_allclose(after[0], 0, atol=1e-5)
    np.testing.assert_allclose(after[2], 2 * before[2], atol=1e-4)
    np.testing.assert_allclose(after[[1, 3]], before[[1, 3]], atol=1e-4)
    raw = lt.scale_latent(z, {1: 0.0})
    np.testing.assert_allclose(raw[1], z[1].mean(), rtol=1e-5)
    np.testing.assert_array_equal(raw[[0, 2, 3]], z[[0, 2, 3]])


@pytest.mark.parametrize("offsets, message", [
    ({4: 1.0}, "axis 4 is out of range: the latent has 4 axes"),
    ({-1: 1.0}, "axis -1 is out of range"),
    ({"0": 1.0}, "a latent axis is a whole number"),
    ({0: float("nan")}, "offset: the value for axis 0 must be a finite number"),
    ([1, 2, 3, 4, 5], "axis 4 is out of range"),
])
def test_bad_offsets_are_refused(fitted, offsets, message):
    with pytest.raises(CadenzaError, match=message):
        lt.offset(fitted, clip(0), offsets, fitted.pca_)


def test_a_pca_of_another_size_is_refused(model):
    with pytest.raises(CadenzaError, match="PCA is of a 8-dimensional latent; this latent has 4"):
        lt.offset(model, clip(0), {0: 1.0}, LatentPCA().fit(low_rank()[0]))


def test_nan_from_the_model_is_refused(model, monkeypatch):
    monkeypatch.setattr(model, "encode", lambda audio: np.full((SIZE, 3), np.nan, np.float32))
    with pytest.raises(CadenzaError, match="the latent of audio: holds NaN"):
        lt.offset(model, clip(0), {0: 1.0})
    monkeypatch.setattr(model, "encode", lambda audio: np.zeros((SIZE + 1, 3), np.float32))
    with pytest.raises(CadenzaError, match=r"expected shape \[4, frames\], got \[5, 3\]"):
        lt.offset(model, clip(0), {0: 1.0})


def test_too_short_a_clip_is_one_line(model):
    with pytest.raises(CadenzaError, match="too short for fakelatent"):
        lt.fit_pca(model, [Audio(np.zeros((1, HOP - 1), np.float32), RATE)])


# --- the command line ---------------------------------------------------------------------------

@pytest.fixture
def runs(fitted, tmp_path):
    """A fake latent run with a PCA, one without, a run of a model with no latent space, and sounds."""
    import cadenza

    with registered(FakeLatent):
        fitted.save(tmp_path / "latent")
        FakeLatent().save(tmp_path / "bare")
        cadenza.create("lsystem").save(tmp_path / "notes")
        for i, seconds in enumerate((0.5, 0.4)):
            clip(10 + i, seconds).write(tmp_path / f"s{i}.wav")
        yield tmp_path


def test_cli_interpolate_steps_and_morph(runs, capsys):
    code, out, err = run_cli(["latent", "interpolate", runs / "s0.wav", runs / "s1.wav", "--model", runs / "latent",
                              "--out", runs / "steps.wav", "--steps", "3"], capsys)
    assert code == 0, err
    assert "3 steps from s0.wav to s1.wav" in " ".join(out.split())
    frames = int(0.4 * RATE) // HOP
    fade = round(lt.CROSSFADE * RATE)
    assert len(Audio.read(runs / "steps.wav")) == 3 * frames * HOP - 2 * fade
    code, out, err = run_cli(["latent", "interpolate", runs / "s0.wav", runs / "s1.wav", "-m", runs / "latent",
                              "-o", runs / "morph.wav", "--morph"], capsys)
    assert code == 0, err
    assert len(Audio.read(runs / "morph.wav")) == frames * HOP


def test_cli_offset_uses_the_runs_pca(runs, fitted, capsys):
    code, out, err = run_cli(["latent", "offset", runs / "s0.wav", "--model", runs / "latent", "--out",
                              runs / "moved.wav", "--axis", "0=1.5", "--axis", "2=-1"], capsys)
    assert code == 0, err
    assert "axis 0 +1.5 sd, axis 2 -1 sd" in " ".join(out.split())
    expected = lt.offset(fitted, Audio.read(runs / "s0.wav"), {0: 1.5, 2: -1.0}, fitted.pca_)
    np.testing.assert_allclose(Audio.read(runs / "moved.wav").samples, expected.samples, atol=1e-4)
    code, out, err = run_cli(["latent", "offset", runs / "s0.wav", "-m", runs / "bare", "-o", runs / "raw.wav",
                              "--axis", "1=0.5"], capsys)
    assert code == 0, err
    out = " ".join(out.split())  # the console wraps long lines
    assert "stores no latent PCA" in out and "dim 1 +0.5" in out


def test_cli_pca_prints_the_fidelity_table(runs, capsys):
    code, out, err = run_cli(["latent", "pca", "--model", runs / "latent", "--plot", runs / "fid.png"], capsys)
    assert code == 0, err
    assert "the PCA stored in the run" in " ".join(out.split()) and "fidelity  dims" in out
    for fidelity in ("0.8", "0.9", "0.95", "0.99"):
        assert f"\n{fidelity:>8}  " in out
    assert (runs / "fid.png").read_bytes()[:4] == b"\x89PNG"
    folder = runs / "sounds"
    for i in range(3):
        clip(20 + i, 0.5, 16000).write(folder / f"c{i}.wav")
    code, out, err = run_cli(["latent", "pca", "--model", runs / "bare", "--data", folder, "--split", "all"], capsys)
    assert code == 0, err
    assert "3 clips" in " ".join(out.split()) and "fidelity  dims" in out


@pytest.mark.parametrize("args, message", [
    (["pca", "--model", "{notes}"], "this needs a model with a latent space such as vae"),
    (["pca", "--model", "{bare}"], "the run stores no latent PCA; pass --data"),
    (["interpolate", "{s0}", "{s1}", "-m", "{latent}", "-o", "{out}", "--steps", "1"], "--steps must be"),
    (["interpolate", "{s0}", "{missing}", "-m", "{latent}", "-o", "{out}"], "no such file"),
    (["offset", "{s0}", "-m", "{latent}", "-o", "{out}"], "say how to move the sound"),
    (["offset", "{s0}", "-m", "{latent}", "-o", "{out}", "--axis", "x"], "--axis: expected AXIS=VALUE"),
    (["offset", "{s0}", "-m", "{latent}", "-o", "{out}", "--axis", "0=1", "--axis", "0=2"], "given twice"),
    (["offset", "{s0}", "-m", "{latent}", "-o", "{out}", "--axis", "9=1"], "axis 9 is out of range"),
    (["offset", "{s0}", "-m", "{latent}", "-o", "{out}", "--axis", "0=nan"], "must be a finite number"),
    (["offset", "{s0}", "-m", "{notes}", "-o", "{out}", "--axis", "0=1"], "a lsystem run"),
])
def test_cli_bad_input_is_one_line(runs, capsys, args, message):
    paths = {"notes": runs / "notes", "bare": runs / "bare", "latent": runs / "latent", "s0": runs / "s0.wav",
             "s1": runs / "s1.wav", "missing": runs / "nope.wav", "out": runs / "out.wav"}
    code, out, err = run_cli(["latent", *[a.format(**paths) for a in args]], capsys)
    assert code == 2, out
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (runs / "out.wav").exists()


def test_cli_limits_agree_with_the_library():
    from cadenza.cli import latent as cli_latent

    assert (cli_latent.MAX_STEPS, cli_latent.MAX_SECONDS) == (lt.MAX_STEPS, lt.MAX_SECONDS)


# --- the studio --------------------------------------------------------------------------------

def test_studio_latent_decode(runs, tmp_path):
    from cadenza.studio.service import LATENT_SECONDS, NO_LATENT, Studio

    with registered(FakeLatent):
        studio = Studio(runs=runs, references={}, session_root=tmp_path / "sessions", corpora={})
        assert studio.latent_runs() == ["bare", "latent"]
        model = studio.load_run("latent")
        pca = model.pca_
        # an upload, moved along the first two principal axes
        path, notes = studio.latent_decode("s1", "latent", str(runs / "s0.wav"), [1.0, -2.0] + [0.0] * 6)
        assert Audio.read(path).sample_rate == RATE and notes == []
        z = model.encode(Audio.read(runs / "s0.wav"))
        shift = (pca.transform(model.decoded[-1]) - pca.transform(z)) / pca.std_[:, None]
        np.testing.assert_allclose(shift, np.array([1.0, -2.0, 0, 0])[:, None] * np.ones_like(z), atol=1e-4)
        encodes = len(model.encoded)
        studio.latent_decode("s1", "latent", str(runs / "s0.wav"), [0.5])
        assert len(model.encoded) == encodes  # the slider re-render reuses the encoded upload
        # no upload: the PCA's mean held for a few seconds
        path, _ = studio.latent_decode("s1", "latent", None, [0.0] * 8)
        assert Audio.read(path).seconds == pytest.approx(LATENT_SECONDS)
        np.testing.assert_allclose(model.decoded[-1], np.repeat(pca.mean_[:, None], model.decoded[-1].shape[1], 1),
                                   atol=1e-6)
        _, notes = studio.latent_decode("s1", "bare", None, [0.0] * 4 + [1.0] + [0.0] * 3)
        assert any("raw latent dimensions" in n for n in notes) and any("axes 5-8 do nothing" in n for n in notes)
        with pytest.raises(CadenzaError, match=r"axis 2: choose from -3 to 3"):
            studio.latent_decode("s1", "latent", None, [0.0, 4.0])
        with pytest.raises(CadenzaError, match="choose a latent model"):
            studio.latent_decode("s1", "", None, [0.0])
        with pytest.raises(CadenzaError, match="no run called"):
            studio.latent_decode("s1", "../latent", None, [0.0])
    empty = Studio(runs=tmp_path / "none", references={}, session_root=tmp_path / "sessions2", corpora={})
    with pytest.raises(CadenzaError, match="No latent model yet"):
        empty.latent_decode(None, None, None, [])
    assert NO_LATENT.startswith("No latent model yet")
