"""maskgit with text prompts: captions of audio clips from their labels and features, the prompt
prefix, training windows cut within clips, guidance at every decoding step, saving and loading,
the command line and the studio; and the unprompted model and its format left as they were."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import cadenza
import support
from cadenza.audio.io import Audio
from cadenza.data import audio_captions as A
from cadenza.data.audio_drums import drum_patterns, kit_one_shots
from cadenza.data.audio_notes import ensemble, render_notes
from cadenza.data.audio_sets import _assemble, concat, from_scores, rendered_meta
from cadenza.errors import CadenzaError
from cadenza.models.audio.maskgit import MaskGIT
from cadenza.models.audio.maskgit_net import MaskGITNet, guided_logits, sample
from cadenza.models.base import create, get, load

ROOT = Path(__file__).resolve().parents[1]
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60]


@pytest.fixture(scope="module", autouse=True)
def _threads(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def data():
    """A low and a high piano note at two velocities, a slow, a moderate and a fast drum pattern,
    a snare hit, a violin melody in C major and a two-part ensemble: every kind of clip."""
    notes = concat(list(render_notes({0: [40, 76]}, velocities=(64, 127), seconds=0.3).values()))
    drums = _assemble("drums", "all", 16000, 64, drum_patterns(count=3, steps=8) +
                      kit_one_shots(notes=[38], velocities=[100]), meta=rendered_meta("none"))
    solo = from_scores([support.melody(C_MAJOR, beats=0.25)], 40, "violin")
    score = support.melody([72, 74, 76], beats=0.5)
    score.tracks.append(support.melody([60, 62, 64], beats=0.5).tracks[0])
    duo = ensemble([score], programs=(40, 41))
    return concat([notes, drums, solo, duo])


@pytest.fixture(scope="module")
def codec_run(data, tmp_path_factory):
    return create("codec", **get("codec").tiny_config).fit(data).save(tmp_path_factory.mktemp("codec") / "run")


PROMPTED = {"prompt_tokens": 2, "captions": 2, "prompt_dropout": 0.5, "max_steps": 4, "max_audio_minutes": 1.0}


@pytest.fixture(scope="module")
def model(data, codec_run):
    return MaskGIT(**{**MaskGIT.tiny_config, **PROMPTED, "codec": str(codec_run)}).fit(data)


@pytest.fixture(scope="module")
def run(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("prompted") / "run")


@pytest.fixture(scope="module")
def plain(data, codec_run):
    return MaskGIT(**{**MaskGIT.tiny_config, "codec": str(codec_run)}).fit(data)


@pytest.fixture(scope="module")
def plain_run(plain, tmp_path_factory):
    return plain.save(tmp_path_factory.mktemp("plain") / "run")


def clip(data, index=0, seconds=0.05):
    return Audio(np.asarray(data.audio[index][:int(seconds * data.sample_rate)], np.float32)[None], data.sample_rate)


# --- captions ------------------------------------------------------------------------------------


def test_facts_come_from_each_clip_s_labels_and_features(data):
    facts = A.set_facts(data)
    assert [f.kind for f in facts] == ["note"] * 4 + ["pattern"] * 3 + ["hit", "solo", "ensemble"]
    notes = {(f.pitch, f.dynamics): f for f in facts[:4]}
    assert {(p, d) for p, d in notes} == {(40, "soft"), (40, "loud"), (76, "soft"), (76, "loud")}
    assert {notes[(40, "soft")].register, notes[(76, "loud")].register} == {"low", "high"}
    assert notes[(40, "soft")].instruments == ("acoustic grand piano",) and notes[(40, "soft")].family == "keyboard"
    assert [(f.bpm, f.tempo, f.density) for f in facts[4:7]] == [
        (90.0, "slow", "sparse"), (110.0, "moderate", "moderate"), (130.0, "fast", "busy")]
    assert facts[4].drums == ("kick", "snare", "closed_hat", "open_hat")
    assert (facts[7].drums, facts[7].dynamics) == (("snare",), "medium")
    assert (facts[8].instruments, facts[8].register, facts[8].key) == (("violin",), "middle", "C major")
    assert facts[9].instruments == ("violin", "viola") and facts[9].register is None


def test_a_recording_without_labels_gets_its_register_from_the_tracked_f0(data):
    rate, hop = 16000, 64
    frames = 50
    low = _assemble("x", "all", rate, hop, [{"id": "a", "audio": np.zeros(frames * hop, np.float32),
                                              "f0": np.full(frames, 65.0, np.float32),
                                              "confidence": np.ones(frames, np.float32),
                                              "loudness": np.zeros(frames, np.float32)}])
    assert A.clip_facts(low, 0) == A.ClipFacts("recording", register="low")
    low.confidence[0][:] = 0  # nothing pitched: no register is said
    assert A.clip_facts(low, 0) == A.ClipFacts("recording")


@pytest.mark.parametrize(("name", "said"), [
    ("Violin", "violin"), ("Acoustic Guitar (nylon)", "nylon acoustic guitar"), ("Lead 1 (square)", "square lead"),
    ("String Ensemble 1", "string ensemble")])
def test_instrument_names_read_as_words(name, said):
    assert A.instrument_name(name) == said


def _said(facts, pattern, frames=A.TRAIN_FRAMES, n=150, seed=0):
    rng = np.random.default_rng(seed)
    texts = [A.caption(facts, rng, frames) for _ in range(n)]
    return texts, sum(bool(re.search(pattern, t)) for t in texts)


def test_captions_differ_by_fact_and_never_say_the_other_value(data):
    facts = A.set_facts(data)
    low = next(f for f in facts if f.register == "low")
    high = next(f for f in facts if f.register == "high")
    low_texts, low_said = _said(low, r"\b(low|deep)\b")
    high_texts, high_said = _said(high, r"\bhigh\b")
    assert low_said > 75 and high_said > 75  # the register is said most of the time ...
    assert _said(low, r"\bhigh\b")[1] == 0 and _said(high, r"\b(low|deep)\b")[1] == 0  # ... never the wrong one
    shared = set(low_texts) & set(high_texts)  # only where the register is left out
    assert len(shared) < 40 and not any(re.search(r"\b(low|deep|high|mid-range)", t) for t in shared)
    slow, fast = facts[4], facts[6]
    assert _said(slow, r"\b(fast|quick|up-tempo|driving)\b")[1] == 0 and _said(slow, r"\b(slow|laid-back)\b")[1] > 50
    assert _said(fast, r"\b(slow|laid-back|unhurried)\b")[1] == 0 and _said(fast, r"\b(fast|quick)\b")[1] > 30
    texts, drums = _said(facts[4], r"drum (pattern|beat|loop)|beat on the drums")
    assert drums == len(texts)  # the kind is always said
    assert len(set(texts)) > 40  # in many wordings
    assert _said(facts[8], r"C major")[1] > 50 and _said(facts[8], r"violin")[1] > 100


def test_held_out_phrasings_are_never_training_captions(data):
    facts = A.set_facts(data)[1]
    seen, _ = _said(facts, "", n=300)
    unseen, _ = _said(facts, "", A.UNSEEN_FRAMES, n=100)
    assert not set(seen) & set(unseen)
    assert all(any(t.startswith(frame.split("{")[0]) for frame in A.UNSEEN_FRAMES) for t in unseen)
    assert len(A.captions(facts, 4, np.random.default_rng(0))) == 4


# --- the network ---------------------------------------------------------------------------------


def test_the_prefix_has_no_position_and_its_outputs_are_dropped():
    torch.manual_seed(0)
    net = MaskGITNet(2, 16, width=16, layers=1, heads=2, dropout=0.0, prompt_tokens=3).eval()
    tokens = torch.randint(0, 16, (2, 2, 9))
    prompt, on = torch.randn(2, 384), torch.tensor([True, False])
    logits = net(tokens, prompt, on)
    assert logits.shape == (2, 2, 9, 16)
    # no rotation on the prefix: one empty prompt gives the same output in each row whatever the other
    assert torch.allclose(net(tokens[1:], torch.zeros(1, 384), torch.tensor([False])), logits[1:], atol=1e-6)
    assert not torch.allclose(net(tokens, prompt * 0.5, on)[0], logits[0])  # the prompt reaches every frame
    plain = MaskGITNet(2, 16, width=16, layers=1, heads=2, dropout=0.0)
    assert not any("adapter" in k for k in plain.state_dict())
    assert set(net.state_dict()) - set(plain.state_dict()) == {k for k in net.state_dict() if k.startswith("adapter.")}


def test_guidance_mixes_the_prompted_and_empty_logits():
    torch.manual_seed(1)
    net = MaskGITNet(2, 16, width=16, layers=1, heads=2, dropout=0.0, prompt_tokens=2).eval()
    x = torch.randint(0, 17, (3, 2, 8))
    vector = torch.randn(384)
    batches = []
    forward = net.forward
    net.forward = lambda tokens, prompt=None, on=None: batches.append(on.tolist()) or forward(tokens, prompt, on)
    with torch.no_grad():
        prompted = forward(x, vector.expand(3, -1), torch.ones(3, dtype=torch.bool))
        empty = forward(x, torch.zeros(3, 384), torch.zeros(3, dtype=torch.bool))
        assert torch.equal(guided_logits(net, x, vector, 1.0), prompted)  # one pass, prompted rows only
        assert torch.equal(guided_logits(net, x, vector, 0.0), empty)
        assert torch.equal(guided_logits(net, x, None, 3.0), empty)
        torch.testing.assert_close(guided_logits(net, x, vector, 2.5), empty + 2.5 * (prompted - empty))
    assert batches == [[True] * 3, [False] * 3, [False] * 3, [True] * 3 + [False] * 3]


class Conditional(torch.nn.Module):
    """A prompted network read as a plain one: always the prompt's vector, no guidance."""

    def __init__(self, net, vector):
        super().__init__()
        self.net, self.vector, self.mask_id = net, vector, net.mask_id

    def forward(self, tokens):
        b = len(tokens)
        return self.net(tokens, self.vector.expand(b, -1), torch.ones(b, dtype=torch.bool))


def test_guidance_one_is_plain_conditional_sampling(model):
    from cadenza.models.prompting import prompt_vector

    tokens = np.random.default_rng(0).integers(0, 16, (2, 14))
    keep = np.zeros((2, 14), bool)
    keep[:, ::4] = True
    text = "a loud low note on the piano"
    out = model.vamp_tokens(tokens, keep, seed=3, steps=3, prompt=text, guidance=1.0, progress=False)
    vector = torch.from_numpy(prompt_vector(text))
    plain = sample(Conditional(model.net_, vector), torch.from_numpy(np.where(keep, tokens, 0))[None],
                   torch.from_numpy(keep)[None], steps=3, typical_mass=0.15, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(out, plain[0].numpy())
    guided = model.vamp_tokens(tokens, keep, seed=3, steps=3, prompt=text, guidance=3.0, progress=False)
    assert not np.array_equal(out, guided)


# --- training --------------------------------------------------------------------------------------


def test_prompted_windows_lie_within_clips_and_carry_their_clip_s_captions(model, data):
    from cadenza.models.audio.maskgit_system import CaptionedTokenWindows
    from cadenza.models.prompting import encoder

    train, _, _ = model._datasets(data, None)
    assert isinstance(train, CaptionedTokenWindows)
    clips = dict(model._encode_clips(data, "training"))
    assert set(train.clips) == set(clips)  # every clip has windows
    for i in np.linspace(0, len(train) - 1, 40).astype(int):
        window, owner = train.windows[i].numpy(), train.clips[i]
        whole = clips[owner]
        starts = [s for s in range(whole.shape[1] - window.shape[1] + 1) if np.array_equal(whole[:, s:s + 16], window)]
        assert starts, "a window that is not a stretch of its own clip"
    facts = A.set_facts(data)
    notes = [i for i, f in enumerate(facts) if f.kind == "note"]
    assert all(len(train.lines[i]) == 2 for i in train.lines)
    np.random.seed(0)
    items = [train[int(np.flatnonzero(np.array(train.clips) == notes[0])[0])] for _ in range(200)]
    lines = train.lines[notes[0]]
    for line in lines:  # each caption's vector is the encoder's
        np.testing.assert_allclose(train.vectors[line], encoder().encode([line])[0], atol=1e-5)
    vectors = {train.vectors[line].tobytes() for line in lines}
    drawn = {v.numpy().tobytes() for _, v, _ in items}
    assert drawn == vectors  # each draw one of the clip's captions, and each of them drawn
    on = [bool(o) for _, _, o in items]
    assert 50 < sum(on) < 150  # prompt_dropout 0.5: the empty prompt in about half the draws
    # the unprompted model keeps windows straddling clips, of plain tensors
    plain = MaskGIT(**{**MaskGIT.tiny_config, "codec": model.config.codec, "max_audio_minutes": 1.0})
    plain_train, _, _ = plain._datasets(data, None)
    assert isinstance(plain_train[0], torch.Tensor)
    stream = np.concatenate(list(clips.values()), axis=1)
    assert np.array_equal(plain_train.windows.numpy(), plain._windows([stream], 8))


def test_clips_shorter_than_a_window_are_padded_with_silence(model):
    short = Audio(np.full((1, 60), 0.3, np.float32), model.sample_rate)  # under 16 frames of 8 samples
    (_, tokens), = model._encode_clips([short], "test", least_frames=16)
    assert tokens.shape == (2, 16)
    (_, unpadded), = model._encode_clips([short], "test")
    assert unpadded.shape[1] < 16


def test_training_standardises_the_prompt_and_learns_the_empty_one(model):
    adapter = model.net_.adapter
    assert not torch.allclose(adapter.mean, torch.zeros(384)) and not torch.allclose(adapter.scale, torch.ones(384))
    assert adapter.empty.abs().max() > 0  # zeros at the start: prompt dropout trained it


# --- generation, vamping, saving --------------------------------------------------------------------


def test_generation_follows_the_prompt_and_is_seeded(model):
    def tokens(**options):
        return model.vamp_tokens(np.zeros((2, 30), np.int64), np.zeros((2, 30), bool), seed=5, steps=3,
                                 progress=False, **options)

    low = tokens(prompt="a low note", guidance=3.0)
    assert np.array_equal(low, tokens(prompt="a low note", guidance=3.0))
    assert not np.array_equal(low, tokens(prompt="a fast drum pattern", guidance=3.0))
    assert np.array_equal(tokens(prompt="a low note", guidance=0.0), tokens())  # guidance 0: the empty prompt
    a = model.generate(n=1, seed=1, length=24, steps=3, progress=False, prompt="a low note", guidance=2.0)
    assert a == model.generate(n=1, seed=1, length=24, steps=3, progress=False, prompt="a low note", guidance=2.0)
    assert len(a[0]) == 24 * model.codec.frame_samples


def test_vamp_with_a_prompt_and_guidance(model, data):
    audio = clip(data)
    out, notes = model.transfer(audio, mask="periodic:3", steps=2, seed=4, prompt="a high note", guidance=3.0,
                                progress=False)
    assert len(out) == len(audio) and any("a high note" in n and "guidance 3" in n for n in notes)
    assert out == model.vamp(audio, mask="periodic:3", steps=2, seed=4, prompt="a high note", guidance=3.0,
                             progress=False)
    assert out != model.vamp(audio, mask="periodic:3", steps=2, seed=4, progress=False)


def test_save_and_load_give_the_same_tokens(model, run, data):
    loaded = load(run)
    assert loaded.config.prompt_tokens == 2 and json.loads((run / "cadenza.json").read_text())["config"][
        "prompt_tokens"] == 2
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), framework="numpy") as f:
        names = set(f.keys())
    assert {"net.adapter.mean", "net.adapter.scale", "net.adapter.empty"} <= names
    torch.testing.assert_close(loaded.net_.adapter.mean, model.net_.adapter.mean)
    options = dict(seed=2, steps=3, prompt="a fast drum pattern", guidance=3.0, progress=False)
    tokens = np.random.default_rng(1).integers(0, 16, (2, 40))
    keep = np.zeros((2, 40), bool)
    keep[:, ::5] = True
    assert np.array_equal(loaded.vamp_tokens(tokens, keep, **options), model.vamp_tokens(tokens, keep, **options))
    assert loaded.vamp(clip(data), mask="periodic:4", **options) == model.vamp(clip(data), mask="periodic:4", **options)


def test_a_half_precision_copy_keeps_the_adapter_in_fp32(run, tmp_path):
    from safetensors import safe_open

    from cadenza.models.audio.maskgit import save_half_precision

    half = save_half_precision(run, tmp_path / "half")
    with safe_open(str(half / "model.safetensors"), framework="numpy") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes["net.adapter.mean"] == "F32" and dtypes["net.blocks.0.attention.qkv.weight"] == "F16"
    load(half).generate(n=1, length=20, steps=2, progress=False, prompt="a snare hit")


def test_a_damaged_adapter_is_one_clear_line(run, tmp_path):
    from safetensors.numpy import load_file, save_file

    copy = shutil.copytree(run, tmp_path / "run")
    arrays = load_file(str(copy / "model.safetensors"))
    arrays["net.adapter.mean"] = np.zeros(10, np.float32)
    save_file(arrays, str(copy / "model.safetensors"))
    with pytest.raises(CadenzaError, match="adapter.mean") as caught:
        load(copy)
    assert "\n" not in str(caught.value)


# --- refusals ------------------------------------------------------------------------------------------


def test_an_unprompted_model_refuses_a_prompt_and_an_empty_prompt_is_refused(plain, model, data):
    for call in (lambda: plain.generate(prompt="a low note", length=10, progress=False),
                 lambda: plain.vamp(clip(data), prompt="a low note", progress=False)):
        with pytest.raises(CadenzaError, match="trained without text prompts") as caught:
            call()
        assert "\n" not in str(caught.value)
    with pytest.raises(CadenzaError, match="prompt is empty"):
        model.generate(prompt="  ", length=10, progress=False)


# --- the unprompted format ------------------------------------------------------------------------------


def test_the_unprompted_format_is_unchanged(plain, plain_run, data, tmp_path):
    from safetensors import safe_open

    with safe_open(str(plain_run / "model.safetensors"), framework="numpy") as f:
        names = set(f.keys())
    net = MaskGITNet(2, 16, width=16, layers=1, heads=2)
    assert names == {f"net.{k}" for k in net.state_dict()} | {"token_counts"}
    # a run saved before text prompts existed (no such keys in its config) loads and vamps as it did
    older = shutil.copytree(plain_run, tmp_path / "older")
    record = json.loads((older / "cadenza.json").read_text())
    for key in ("prompt_tokens", "prompt_dropout", "captions"):
        del record["config"][key]
    (older / "cadenza.json").write_text(json.dumps(record))
    options = dict(mask="periodic:3", steps=2, seed=1, progress=False)
    assert load(older).vamp(clip(data), **options) == plain.vamp(clip(data), **options)



def test_the_shipped_vamp_takes_prompts():
    shipped = json.loads((ROOT / "src/cadenza/pretrained/vamp/cadenza.json").read_text())
    assert shipped["config"]["prompt_tokens"] == 2
    vamp = cadenza.load("pretrained/vamp")  # finds pretrained/codec, whose identity it records
    assert vamp.config.prompt_tokens == 2 and hasattr(vamp.net_, "adapter")


# --- the command line and the studio --------------------------------------------------------------------


def test_cli_generates_and_vamps_with_a_prompt(run, data, tmp_path, capsys):
    code, _, err = support.run_cli(["generate", run, "--prompt", "a low note", "--guidance", "3", "-n", 1,
                                    "--length", 20, "--steps", 2, "--no-progress", "--out", tmp_path / "gen"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "gen").glob("*.wav"))) == 1
    source = tmp_path / "in.wav"
    clip(data).write(source)
    code, out, err = support.run_cli(["vamp", source, "--model", run, "--prompt", "a fast drum pattern",
                                      "--guidance", 3, "--steps", 2, "--out", tmp_path / "out.wav"], capsys)
    assert code == 0, err
    assert "a fast drum pattern" in out and (tmp_path / "out.wav").is_file()


def test_cli_refusals_are_one_line(run, plain_run, data, tmp_path, capsys):
    source = tmp_path / "in.wav"
    clip(data).write(source)
    cases = [(["generate", plain_run, "--prompt", "a low note", "--length", 10], "trained without text prompts"),
             (["vamp", source, "--model", plain_run, "--prompt", "a low note"], "trained without text prompts"),
             (["generate", run, "--prompt", "", "--length", 10], "prompt is empty"),
             (["vamp", source, "--model", run, "--guidance", -1], "--guidance")]
    for args, match in cases:
        out = tmp_path / ("o.wav" if args[0] == "vamp" else "o")
        code, _, err = support.run_cli([*args, "--out", out], capsys)
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, (args, err)
        assert not out.exists()


def test_the_studio_generates_and_vamps_with_a_prompt(run, data, tmp_path):
    pytest.importorskip("gradio")
    from cadenza.studio.service import Studio

    runs = tmp_path / "runs"
    shutil.copytree(run, runs / "talking-vamp")
    (tmp_path / "none").mkdir()
    source = tmp_path / "in.wav"
    clip(data).write(source)
    studio = Studio(runs=runs, references={}, session_root=tmp_path / "sessions", corpora={},
                    pretrained=tmp_path / "none")
    try:
        take = studio.generate("s", "run:talking-vamp", {}, {"prompt": "a high note", "guidance": 3, "length": 20,
                                                              "steps": 2, "progress": False}, 1, 0)
        assert take["wavs"] or take["audio"]
        result = studio.vamp("s", "talking-vamp", str(source), "periodic:3", 4, 0, prompt="a snare hit", guidance=3)
        assert "following 'a snare hit' (guidance 3)" in result["status"] and Path(result["audio"]).is_file()
    finally:
        studio.sessions.close()


# --- the benchmark ---------------------------------------------------------------------------------------


def test_the_benchmark_runs_on_a_tiny_run(run, data):
    spec = importlib.util.spec_from_file_location("bench_vamp_prompts", ROOT / "benchmarks" / "bench_vamp_prompts.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.run(run, data, seeds=2, seconds=0.3, steps=2)
    assert text.startswith("**Same run:** ordering share")
    rows = [line for line in text.splitlines() if line.startswith("| kind") or line.startswith("| register")
            or line.startswith("| tempo")]
    assert len(rows) == 4 * 5  # four contrast measures, five conditions each
    real_register = next(r for r in rows if "register" in r and "real held-out" in r)
    assert real_register.rstrip(" |").endswith("1.00")  # real low notes are below real high notes
    assert bench.ordering([1, 2], [3, 4], +1) == 1.0 and bench.ordering([1, 2], [3, 4], -1) == 0.0
    assert bench.ordering([1], [1], +1) == 0.5 and np.isnan(bench.ordering([], [1], +1))
