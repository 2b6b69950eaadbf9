"""Recipes (``cadenza compose``): the shipped examples at tiny sizes, determinism, and every kind
of bad recipe refused in one line before any work is done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import symusic

from cadenza.audio.io import Audio
from cadenza.compose import KINDS, read_recipe, run_recipe
from cadenza.errors import CadenzaError
from support import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "recipes"
RECIPES = ("folk-violin", "groove", "chorale-vae", "prompted-jig")


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, bach, one_torch_thread):
    """Each shipped recipe run once at tiny size (the bach fixture builds the corpus cache)."""
    runs = {}
    for name in RECIPES:
        out = tmp_path_factory.mktemp(name)
        runs[name] = (run_recipe(EXAMPLES / f"{name}.toml", out, tiny=True), out)
    return runs


def _score(out: Path, index: int, name: str) -> symusic.Score:
    return symusic.Score(out / f"{index:02d}-{name}" / f"{name}.mid")


def _audio(out: Path, index: int, name: str) -> Audio:
    return Audio.read(out / f"{index:02d}-{name}" / f"{name}.wav")


@pytest.mark.parametrize("name", RECIPES)
def test_example_writes_every_step_and_a_report(tiny_runs, name):
    report, out = tiny_runs[name]
    recipe = read_recipe(EXAMPLES / f"{name}.toml", tiny=True)
    data = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in data["steps"]] == [s.name for s in recipe.steps]
    for index, step in enumerate(data["steps"], 1):
        assert step["seconds"] >= 0 and step["folder"] == f"{index:02d}-{step['name']}"
        suffixes = {Path(f).suffix for f in step["files"]}
        expected = {"score": {".mid", ".musicxml", ".png"}, "audio": {".wav", ".png"},
                    "metrics": {".json"}}[step["output"]]
        assert suffixes == expected, step
        for file in step["files"]:
            assert (out / file).stat().st_size > 0
    markdown = (out / "report.md").read_text()
    assert all(f"| {s.name} |" in markdown for s in recipe.steps)
    mix = Audio.read(out / "mix.wav")
    assert mix.seconds == pytest.approx(data["final_audio_seconds"], abs=1e-3) and mix.seconds > 1
    assert data["metrics"] and report.final == out / "mix.wav"


def test_folk_tune_is_harmonised_and_the_mix_covers_its_parts(tiny_runs):
    _, out = tiny_runs["folk-violin"]
    tune, harmony, accompaniment = _score(out, 1, "tune"), _score(out, 2, "harmony"), _score(out, 3, "accompaniment")
    assert len(tune.tracks) == 1 and len(harmony.tracks) == 4 > len(tune.tracks)
    assert [t.name for t in accompaniment.tracks] == ["Alto", "Tenor", "Bass"]
    assert {t.program for t in accompaniment.tracks} == {48}
    # the tune's notes are the harmony's melody
    assert [n.pitch for n in tune.tracks[0].notes] == [n.pitch for n in harmony.tracks[0].notes]
    violin, strings, mix = _audio(out, 4, "violin"), _audio(out, 5, "strings"), _audio(out, 6, "mix")
    assert violin.sample_rate == 16000  # the DDSP instrument's rate
    assert mix.seconds >= max(violin.seconds, strings.seconds) - 1e-3


def test_groove_parts_are_rendered_and_mixed_to_the_chords(tiny_runs):
    _, out = tiny_runs["groove"]
    drums = _score(out, 3, "drums")
    assert len(drums.tracks) == 1 and drums.tracks[0].is_drum and len(drums.tracks[0].notes)
    band = _score(out, 8, "band")
    assert len(band.tracks) == 3
    keys, mix = _audio(out, 4, "keys-audio"), _audio(out, 7, "mix")
    assert len(mix) == len(keys)  # length = "first"
    metrics = json.loads((out / "09-band-metrics" / "metrics.json").read_text())
    assert metrics["tracks"] == 3 and metrics["key"]


def test_chorale_is_split_into_voices_and_retimbred(tiny_runs):
    _, out = tiny_runs["chorale-vae"]
    voices = _score(out, 2, "voices")
    assert [t.name for t in voices.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert sum(len(t.notes) for t in voices.tracks) == sum(len(t.notes) for t in _score(out, 1, "chorale").tracks)
    organ, violins = _audio(out, 3, "organ"), _audio(out, 4, "vae-violins")
    assert violins.sample_rate == organ.sample_rate and len(violins) == len(organ)
    assert violins != organ


def test_same_seed_same_files_and_the_seed_matters(tmp_path, bach):
    recipe = EXAMPLES / "folk-violin.toml"
    first = run_recipe(recipe, tmp_path / "a", tiny=True, seed=3)
    run_recipe(recipe, tmp_path / "b", tiny=True, seed=3)
    for name in ("01-tune/tune.mid", "02-harmony/harmony.mid", "mix.wav"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    run_recipe(read_recipe(recipe, tiny=True, seed=4), tmp_path / "c")
    assert (tmp_path / "a/01-tune/tune.mid").read_bytes() != (tmp_path / "c/01-tune/tune.mid").read_bytes()
    assert first.seed == 3 and json.loads((tmp_path / "a/report.json").read_text())["seed"] == 3


def test_progress_callback_hears_each_step_start_and_end(tmp_path):
    recipe = _write(tmp_path, CHORDS + RENDER)
    events = []
    run_recipe(recipe, tmp_path / "out", on_step=events.append)
    assert [(e.name, e.seconds is None) for e in events] == [("chords", True), ("chords", False),
                                                            ("audio", True), ("audio", False)]
    assert events[-1].index == events[-1].total == 2


# --- bad recipes --------------------------------------------------------------------------------

CHORDS = """
[recipe]
name = "test"

[steps.chords]
kind = "generate"
model = "lsystem"
config = { interpretation = "chords" }
sampling = { length = 4 }
"""
RENDER = """
[steps.audio]
kind = "render"
input = "chords"
"""


def _write(folder: Path, text: str, name: str = "recipe.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _bad_recipes(tmp: Path) -> list[tuple[str, str]]:
    (tmp / "not-a-run").mkdir(exist_ok=True)
    return [
        ("[recipe]\nname = \"x\"\n[steps.a\nkind = 1\n", "not valid TOML"),
        (CHORDS + "[steps.b]\nkind = \"invert\"\ninput = \"chords\"\n", "unknown step kind 'invert'"),
        (CHORDS + "[steps.b]\nkind = \"render\"\ninput = \"chords\"\nmodel = \"runs/missing\"\n",
         "no such run directory"),
        (CHORDS + f"[steps.b]\nkind = \"transfer\"\ninput = \"chords\"\nmodel = \"{tmp / 'not-a-run'}\"\n",
         "not a Cadenza run"),
        (CHORDS + "[steps.b]\nkind = \"generate\"\nmodel = \"pretrained/nosuch\"\n", "no such run directory"),
        (CHORDS + "[steps.b]\nkind = \"transpose\"\ninput = \"c\"\n[steps.c]\nkind = \"transpose\"\ninput = \"b\"\n",
         "in a cycle"),
        (CHORDS + "[steps.b]\nkind = \"transpose\"\ninput = \"melody\"\n", "unknown step 'melody'"),
        (CHORDS + RENDER + "[steps.up]\nkind = \"transpose\"\ninput = \"audio\"\nsemitones = 2\n",
         "step 'up' (transpose) takes score, but its input 'audio' (render) gives audio"),
        (CHORDS + RENDER + "[steps.mix]\nkind = \"mix\"\ninputs = [\"audio\", \"chords\"]\n",
         "takes audio, but its input 'chords' (generate) gives score"),
        (CHORDS + "[steps.b]\nkind = \"transpose\"\ninput = \"chords\"\nsemitone = 2\n",
         "unknown option 'semitone' of a transpose step"),
        (CHORDS + "[steps.b]\nkind = \"harmonize\"\ninput = \"chords\"\ngenerationz = 3\n", "unknown harmonize option"),
        (CHORDS.replace("interpretation", "interpretatio"), "unknown lsystem option 'interpretatio'"),
        (CHORDS.replace("length = 4", "lenght = 4"), "unknown lsystem sampling option 'lenght'"),
        (CHORDS + "[steps.b]\nkind = \"transpose\"\ninput = \"chords\"\nsemitones = 99\n", "between -48 and 48"),
        (CHORDS + "[steps.b]\nkind = \"generate\"\nmodel = \"markov\"\n", "learns from data"),
        (CHORDS + "[steps.b]\nkind = \"generate\"\nmodel = \"markov\"\ncorpus = \"nosuch\"\n", "unknown corpus"),
        (CHORDS + RENDER + "[steps.v]\nkind = \"transfer\"\ninput = \"audio\"\nmodel = \"pretrained/jsb\"\n",
         "cannot transfer timbre"),
        (CHORDS + "[steps.v]\nkind = \"render\"\ninput = \"chords\"\nmodel = \"pretrained/vae-violin\"\n",
         "cannot play a score"),
        (CHORDS + "[steps.m]\nkind = \"mix\"\ninput = \"chords\"\n", "takes several inputs"),
        (CHORDS + "[steps.b]\nkind = \"transpose\"\n", "needs input"),
        (CHORDS + "[extra]\nx = 1\n", "unknown table 'extra'"),
        (CHORDS + "[steps.b]\nkind = \"harmonize\"\ninput = \"chords\"\nextra = { population = 3 }\n",
         "unknown harmonize option 'extra'"),
        (CHORDS + "[steps.w]\nkind = \"generate\"\nmodel = \"pretrained/ddsp-violin\"\ntempo = 90\n",
         "tempo, program and track apply to scores; ddsp makes audio"),
        (CHORDS + "[steps.b]\nmodel = \"lsystem\"\n", "no kind"),
        (CHORDS.replace('name = "test"', 'name = "test"\nfinal = "chords"'), "final step 'chords' gives score"),
    ]


def test_each_bad_recipe_is_one_clear_error_before_any_work(tmp_path):
    for text, message in _bad_recipes(tmp_path):
        path = _write(tmp_path, text)
        out = tmp_path / "out"
        with pytest.raises(CadenzaError, match=None) as caught:
            run_recipe(path, out)
        assert message in str(caught.value), (message, str(caught.value))
        assert "\n" not in str(caught.value)
        assert not out.exists(), message  # nothing was written


def test_an_error_in_the_last_step_stops_the_first_from_running(tmp_path):
    # the first step would fit a Markov chain; the last names an unknown option
    text = (CHORDS + RENDER + "[steps.mix]\nkind = \"mix\"\ninputs = [\"audio\"]\nloudness = 3\n")
    with pytest.raises(CadenzaError, match="unknown option 'loudness' of a mix step"):
        run_recipe(_write(tmp_path, text), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out" / "01-chords").exists()


def test_missing_and_unreadable_recipe_files(tmp_path):
    with pytest.raises(CadenzaError, match="no such recipe file"):
        read_recipe(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CadenzaError, match="not a text file|not valid TOML"):
        read_recipe(tmp_path / "bin.toml")


def test_an_error_while_running_names_its_step(tmp_path):
    text = CHORDS + "[steps.pick]\nkind = \"select\"\ninput = \"chords\"\nkeep = [\"Violin\"]\n"
    with pytest.raises(CadenzaError, match=r"step 'pick' \(select\): no track named 'Violin'"):
        run_recipe(_write(tmp_path, text), tmp_path / "out")


def test_cli_runs_a_recipe_and_reports_bad_ones_in_one_line(tmp_path, capsys):
    recipe = _write(tmp_path, CHORDS + RENDER)
    code, out, err = run_cli(["compose", recipe, "--out", tmp_path / "out", "--tiny", "--seed", "5"], capsys)
    assert code == 0, err
    assert "[1/2] chords (generate)" in out and "[2/2] audio (render)" in out
    assert (tmp_path / "out" / "mix.wav").is_file() and (tmp_path / "out" / "report.md").is_file()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["seed"] == 5 and report["tiny"] and [s["seed"] for s in report["steps"]] == [5, 5]
    code, _, err = run_cli(["compose", recipe, "--out", tmp_path / "bad", "--seed", "-5"], capsys)
    assert code == 2 and "--seed must be between" in err and not (tmp_path / "bad").exists()
    for text, message in _bad_recipes(tmp_path)[:10]:
        code, _, err = run_cli(["compose", _write(tmp_path, text, "bad.toml"), "--out", tmp_path / "bad"], capsys)
        assert code == 2 and message in err, (message, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "bad").exists()


def test_every_kind_has_help_types_and_documented_options():
    doc = (ROOT / "docs" / "recipes.md").read_text()
    for name, step in KINDS.items():
        assert step.help and step.output in ("score", "audio", "metrics", "model"), name
        assert f"`{name}`" in doc, name
