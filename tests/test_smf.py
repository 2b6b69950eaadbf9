"""The Sound Model Factory: the grid and its SOM re-spacing, the parameter-driven GRU synthesiser
trained on a tiny GAN's grid, streaming equal to offline, parameter changes heard, control files,
MIDI with controllers, and bad input as one clear line."""

from __future__ import annotations

import numpy as np
import pytest

import cadenza
from cadenza.data.audio_sets import single_notes
from cadenza.errors import CadenzaError
from cadenza.models.audio.gan import GAN
from cadenza.models.audio.smf import SMF, read_controls
from cadenza.models.audio.smf_grid import (
    arc_length_respace,
    bilinear_grid,
    dense_latents,
    dense_side,
    neighbour_cv,
    respaced_grid,
    som_respace,
)
from cadenza.realtime.stream import run_blocks

GAN_TINY = dict(GAN.tiny_config, label="pitch", layers=3, max_steps=4)  # 1,024-sample one-shots
SMF_TINY = dict(SMF.tiny_config, grid=3, som_factor=3, n_pitches=2, sequences=8, sounds_per_sequence=3,
                example_seconds=0.128, max_steps=3)


@pytest.fixture(scope="module")
def notes():
    return single_notes(programs=(0,), pitches=(60, 64, 67), velocities=(100,), seconds=0.2)["train"]


@pytest.fixture(scope="module")
def gan_run(notes, tmp_path_factory, one_torch_thread):
    return GAN(**GAN_TINY).fit(notes).save(tmp_path_factory.mktemp("gan") / "run")


def _smf(**config) -> SMF:
    return SMF(**{**SMF_TINY, **config})


@pytest.fixture(scope="module")
def model(gan_run, notes):
    """A tiny smf on the tiny GAN (the notes are what the GAN learned; the smf does not read them)."""
    return _smf(gan=str(gan_run)).fit(notes)


def _path(frames: int = 48, step_at: int | None = None, onsets=(0, 16, 32), pitch: float = 62.0) -> np.ndarray:
    """Control frames: x walking 0 -> 1, y 0.3, onsets where asked (x jumps to 1 at ``step_at``)."""
    out = np.zeros((frames, 4), np.float32)
    out[:, 0] = np.linspace(0, 1, frames)
    out[:, 1] = 0.3
    out[:, 2] = pitch
    out[list(onsets), 3] = 1.0
    if step_at is not None:
        out[:, 0] = 0.0
        out[step_at:, 0] = 1.0
    return out


# --- the grid ---------------------------------------------------------------------------------

def test_the_bilinear_grid_has_the_corner_latents_at_its_corners():
    corners = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    grid = bilinear_grid(corners, 5)
    assert grid.shape == (5, 5, 6)
    for (i, j), corner in zip([(0, 0), (0, -1), (-1, 0), (-1, -1)], corners):
        np.testing.assert_allclose(grid[i, j], corner, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grid[2, 2], corners.mean(0), rtol=1e-5, atol=1e-6)  # the centre


def test_the_som_evens_out_an_unevenly_spaced_feature_field():
    """Features that stretch along x (u^3): the bilinear grid's neighbours are far apart at one
    side and close at the other; the SOM's grid is markedly more even and keeps its corners and
    orientation. A SOM that did nothing would leave the bilinear grid, CV and all."""
    n, factor = 8, 4
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float64)
    dense = dense_latents(corners, n, factor)
    u, v = dense[:, 0].astype(np.float64), dense[:, 1].astype(np.float64)
    features = np.stack([3 * u ** 3, v + 0.3 * u * v, 0.2 * np.sin(2 * v)], 1)
    side, at = dense_side(n, factor), np.arange(n) * factor
    before = neighbour_cv(features.reshape(side, side, -1)[np.ix_(at, at)])
    chosen = som_respace(features, n, factor)
    after = neighbour_cv(features[chosen])
    assert before > 0.9 and after < 0.7 * before, (before, after)
    grid = dense[chosen]
    for (i, j), corner in zip([(0, 0), (0, -1), (-1, 0), (-1, -1)], corners):
        np.testing.assert_allclose(grid[i, j], corner, atol=1e-6)
    assert len(set(chosen.ravel().tolist())) == n * n  # no two nodes share a sound
    assert (np.diff(grid[:, :, 0], axis=1) >= -1e-9).mean() > 0.9  # x still grows along a row
    by_arc = arc_length_respace(features, n, factor)  # equal steps of feature distance along each axis
    assert neighbour_cv(features[by_arc]) < 0.5 * before
    assert by_arc[0, 0] == 0 and by_arc[-1, -1] == side * side - 1 and len(set(by_arc.ravel().tolist())) == n * n
    anchored = som_respace(features, n, factor, stiffness=1.0)  # the place weighs in: still more even
    assert neighbour_cv(features[anchored]) < 0.8 * before
    assert (np.diff(dense[anchored][:, :, 0], axis=1) > 0).all()  # and no fold


def test_the_respaced_grid_of_a_gan_keeps_the_corners_and_measures_both_cvs(gan_run):
    gan = cadenza.load(gan_run)
    corners = np.stack([gan.latent_of(s) for s in range(4)])
    grid = respaced_grid(gan, corners, 4, 1, None, som=True, factor=2)
    assert grid["latents"].shape == (4, 4, gan.config.latent)
    for (i, j), corner in zip([(0, 0), (0, -1), (-1, 0), (-1, -1)], corners):
        np.testing.assert_allclose(grid["latents"][i, j], corner, rtol=1e-5, atol=1e-6)
    cvs = {"bilinear": grid["cv_bilinear"], "som": grid["cv_som"], "arc-length": grid["cv_arc_length"]}
    assert min(cvs.values()) > 0 and grid["spacing"] == min(cvs, key=cvs.get)


# --- the model --------------------------------------------------------------------------------

def test_fit_renders_the_grid_and_records_its_evenness(model):
    assert model.pitches_ == [60, 67]  # two keys spread over the GAN's 60, 64, 67
    assert model.grid_.shape[:2] == (3, 3) and model.sound_frames_ == 1024 // 64
    assert {"grid_cv_bilinear", "grid_cv_som", "grid_spacing"} <= set(model.metrics_)
    corners = np.stack([model.gan_model().latent_of(s) for s in range(4)])
    np.testing.assert_allclose(model.corners_, corners)
    np.testing.assert_allclose(model.grid_[0, 0], corners[0], rtol=1e-5, atol=1e-6)


def test_generate_save_load_same_output(model, tmp_path):
    a = model.generate(2, seed=3, notes=2)
    assert a[0].samples.shape == (1, 2 * 16 * 64) and np.isfinite(a[0].samples).all()
    assert np.abs(a[0].samples).max() > 0
    run = model.save(tmp_path / "run")
    again = cadenza.load(run)
    assert again.pitches_ == model.pitches_
    np.testing.assert_array_equal(again.generate(2, seed=3, notes=2)[0].samples, a[0].samples)
    np.testing.assert_array_equal(again.grid_, model.grid_)


def test_temperature_keeps_the_walk_near_the_centre(model, monkeypatch):
    played = []
    render = model.render_controls
    monkeypatch.setattr(model, "render_controls", lambda frames, seed=0: played.append(frames) or render(frames, seed))
    model.generate(1, seed=5, notes=3)
    model.generate(1, seed=5, notes=3, temperature=0.1)
    wide, narrow = (np.abs(f[:, :2] - 0.5).max() for f in played)
    assert narrow <= 0.05 + 1e-6 and wide > narrow
    np.testing.assert_allclose((played[1][:, :2] - 0.5) * 10, played[0][:, :2] - 0.5, atol=1e-5)


def test_streaming_in_blocks_equals_offline_rendering(model):
    frames = _path()
    offline = model.render_controls(frames, seed=5).samples
    for per_block in (1, 4, 7):
        blocks = [frames[i:i + per_block] for i in range(0, len(frames), per_block)]
        streamed = run_blocks(model.stream(5), blocks)
        assert streamed.shape == offline.shape
        assert np.abs(streamed - offline).max() < 1e-4 * max(1.0, np.abs(offline).max())


def test_a_parameter_step_changes_the_output_after_it_and_not_before(model):
    still = model.render_controls(_path(step_at=None, onsets=(0,)) * [0, 1, 1, 1], seed=0).samples[0]
    stepped = model.render_controls(_path(step_at=8, onsets=(0,)), seed=0).samples[0]
    hop = model.hop
    np.testing.assert_allclose(stepped[:8 * hop], still[:8 * hop], rtol=1e-5, atol=1e-6)
    assert np.abs(stepped[9 * hop:] - still[9 * hop:]).max() > 1e-4


def test_silence_before_any_note_and_after_a_one_shot_ends(model):
    frames = _path(frames=60, onsets=(10,))
    audio = model.render_controls(frames, seed=0).samples[0]
    hop = model.hop
    assert np.abs(audio[:10 * hop]).max() < 1e-6  # nothing before the first onset
    assert np.abs(audio[(10 + model.sound_frames_ + 1) * hop:]).max() < 1e-6  # the one-shot has ended
    assert np.abs(audio[10 * hop:20 * hop]).max() > 0


# --- bad input --------------------------------------------------------------------------------

def test_bad_gans_pitches_and_instruments_are_one_clear_line(gan_run, model, notes, tmp_path):
    clip = notes
    with pytest.raises(CadenzaError, match="the GAN 'no/such/run' cannot be loaded"):
        _smf(gan="no/such/run").fit(clip)
    smf_run = model.save(tmp_path / "smf-run")
    with pytest.raises(CadenzaError, match="is a smf run, not a gan or specgan run"):
        _smf(gan=str(smf_run)).fit(clip)
    with pytest.raises(CadenzaError, match="is not trained"):
        _smf()._check_gan(GAN(**GAN_TINY), "the GAN")
    with pytest.raises(CadenzaError, match="is conditioned on 'kind', not pitch"):
        _smf()._check_gan(_relabelled(gan_run), "the GAN")
    with pytest.raises(CadenzaError, match="pitch 61 is not one the GAN was trained on .*60-67"):
        _smf(gan=str(gan_run), pitches=[60, 61]).fit(clip)
    with pytest.raises(CadenzaError, match="not conditioned on an instrument"):
        _smf(gan=str(gan_run), instrument=40).fit(clip)
    with pytest.raises(CadenzaError, match="corner_seeds must be 4 seeds"):
        SMF(corner_seeds=[1, 2, 3])


def _relabelled(gan_run):
    gan = cadenza.load(gan_run)
    gan.config.label = "kind"
    return gan


def test_bad_controls_are_one_clear_line(model):
    with pytest.raises(CadenzaError, match="x must be between 0 and 1, got 1.5"):
        model.render_controls(np.array([[1.5, 0, 60, 1]], np.float32))
    with pytest.raises(CadenzaError, match=r"control frames are \[frames, 4\]"):
        model.render_controls(np.zeros((5, 3), np.float32))
    with pytest.raises(CadenzaError, match="pitch must be between 0 and 127"):
        model.render_controls(np.array([[0.5, 0.5, 130, 1]], np.float32))
    with pytest.raises(CadenzaError, match="NaN"):
        model.render_controls(np.array([[np.nan, 0.5, 60, 1]], np.float32))
    with pytest.raises(CadenzaError, match="onset must be 0 or 1"):
        model.stream(0).step(np.array([[0.5, 0.5, 60, 0.5]], np.float32))
    with pytest.raises(CadenzaError, match="'pitch' must be between 0 and 127"):
        model.generate(1, pitch=200)


# --- control files, the CLI and MIDI ---------------------------------------------------------

def test_a_control_file_glides_x_and_y_holds_pitch_and_starts_notes(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("time,x,y,pitch,onset\n0,0,0,60,1\n0.5,1,0.5,60,0\n1.0,1,0.5,64,0\n1.5,0.5,0.5,64,1\n")
    frames = read_controls(path, frame_rate=10, tail_frames=5)
    assert frames.shape == (15 + 5, 4)
    np.testing.assert_allclose(frames[:6, 0], [0, 0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-6)
    np.testing.assert_allclose(frames[[0, 9, 10, 19], 2], [60, 60, 64, 64])
    assert np.flatnonzero(frames[:, 3]).tolist() == [0, 10, 15]  # first row, pitch change, onset=1


def test_cli_render_and_bad_control_files(model, tmp_path, capsys):
    from support import run_cli

    run = model.save(tmp_path / "run")
    good = tmp_path / "path.csv"
    good.write_text("time,x,y,pitch\n0,0,0,60\n0.2,1,1,60\n0.3,0.5,0.5,64\n")
    code, out, err = run_cli(["smf", "render", run, "--controls", good, "--out", tmp_path / "o.wav"], capsys)
    assert code == 0 and (tmp_path / "o.wav").is_file() and "played by" in out, err
    expected = model.render_file(good).samples
    written = cadenza.audio.Audio.read(tmp_path / "o.wav").samples
    assert written.shape == expected.shape
    for text, message in [("time,x,pitch\n0,0,60\n", "missing column y"),
                          ("time,x,y,pitch\n0,0,0,60\n0.1,2,0,60\n", "line 3: x must be between 0 and 1, got 2"),
                          ("time,x,y,pitch\n0,0,0,60\n0.1,0,0,abc\n", "line 3: pitch must be a number"),
                          ("time,x,y,pitch\n0.5,0,0,60\n0.1,0,0,60\n", "line 3: time must not go back"),
                          ("time,x,y,pitch\n", "no rows after the header")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        code, out, err = run_cli(["smf", "render", run, "--controls", bad, "--out", tmp_path / "b.wav"], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (text, err)
    code, out, err = run_cli(["smf", "render", run, "--controls", tmp_path / "none.csv", "--out",
                              tmp_path / "b.wav"], capsys)
    assert code == 2 and "no such control file" in err


def test_cadenza_stream_plays_midi_notes_with_controllers_as_x_and_y(model, tmp_path, capsys):
    import symusic

    from cadenza.realtime.controls import ParameterTracker, ScoreControls
    from support import melody, run_cli

    score = melody([60, 64, 67], beats=0.5)
    score.tracks[0].controls.append(symusic.ControlChange(240, 1, 127))  # x -> 1 at the second note
    score.tracks[0].controls.append(symusic.ControlChange(480, 2, 0))  # y -> 0 at the third
    frames = ScoreControls(score, ParameterTracker(16000, 64, (1, 2))).read(200)
    assert frames.shape == (200, 4)
    onsets = np.flatnonzero(frames[:, 3]).tolist()
    assert len(onsets) == 3 and frames[onsets[0], :3].tolist() == [0.5, 0.5, 60]
    assert frames[onsets[1], :3].tolist() == [1.0, 0.5, 64] and frames[onsets[2], :3].tolist() == [1.0, 0.0, 67]
    run = model.save(tmp_path / "run")
    midi = tmp_path / "in.mid"
    midi.write_bytes(score.dumps_midi())
    code, out, err = run_cli(["stream", "--model", run, "--midi", midi, "--block", "256", "--out",
                              tmp_path / "s.wav"], capsys)
    assert code == 0 and "p99" in out, err
    streamed = cadenza.audio.Audio.read(tmp_path / "s.wav").samples
    offline = model.render_score(score).samples
    assert streamed.shape == offline.shape
    assert np.abs(streamed - offline).max() < 1e-3  # the WAV's 16-bit rounding
