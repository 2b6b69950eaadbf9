"""maskgit (MaskGIT / VampNet over codec tokens): prompt masks, the cosine schedule, a loss on
masked tokens only, a sampler that keeps prompts and fills everything else in the number of
steps asked, windowed vamping, the codec's identity checked on load, and `cadenza vamp`."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import soundfile
import torch

import support
from cadenza.audio.io import Audio
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio import maskgit_net
from cadenza.models.audio.maskgit import MaskGIT
from cadenza.models.audio.maskgit_masks import GRAMMAR, build, check_prompt, onset_times, parse
from cadenza.models.audio.maskgit_net import (
    MaskGITNet,
    gamma,
    masked_loss,
    remasked_count,
    sample,
    training_mask,
    typical_filter,
)
from cadenza.models.base import create, get, load


@pytest.fixture(scope="module", autouse=True)
def _threads(one_torch_thread):
    yield


# --- masks ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "frames"), [
    ("periodic:3", [0, 3, 6, 9]),
    ("prefix:0.5", [0, 1, 2, 3, 4]),
    ("suffix:0.3", [7, 8, 9]),
    ("inpaint:0.2-0.5", [0, 1, 5, 6, 7, 8, 9]),
    ("none", []),
    ("prefix:0.2+suffix:0.1", [0, 1, 9]),
    ("periodic:5,prefix:0.2", [0, 1, 5]),
])
def test_frame_rules_keep_whole_frames(spec, frames):
    keep = build(spec, codebooks=2, frames=10, frame_rate=10.0)
    assert keep.shape == (2, 10)
    assert (keep[0] == keep[1]).all()
    assert np.flatnonzero(keep[0]).tolist() == frames


def test_codebook_rule_keeps_rows_and_combines_with_any():
    keep = build("codebooks:2", 4, 6, 50.0)
    assert keep[:2].all() and not keep[2:].any()
    both = build("codebooks:1 + periodic:3", 4, 6, 50.0)
    assert both[0].all() and (both[1:, [0, 3]]).all() and not both[1:, [1, 2, 4, 5]].any()
    assert (build("codebooks:1,periodic:3", 4, 6, 50.0) == both).all()


@pytest.mark.parametrize("spec", ["", "periodic", "periodic:0", "periodic:x", "periodic:2.5", "prefix:-1",
                                  "prefix:nan", "inpaint:3-1", "inpaint:2", "codebooks:-1", "wobble:3",
                                  "periodic:3++prefix:1", "onsets:0", "none:3"])
def test_bad_mask_is_one_line_naming_it_and_the_grammar(spec):
    with pytest.raises(CadenzaError) as caught:
        parse(spec)
    message = str(caught.value)
    assert "\n" not in message and repr(spec) in message and GRAMMAR in message


def test_the_cli_states_the_same_grammar():
    from cadenza.cli.vamp import MASKS

    assert MASKS == GRAMMAR


def test_a_prompt_that_keeps_all_or_nothing_is_refused_unless_none_is_said():
    with pytest.raises(CadenzaError, match="keeps every token"):
        check_prompt("periodic:1", build("periodic:1", 2, 8, 10.0))
    with pytest.raises(CadenzaError, match="say none"):
        check_prompt("prefix:0", build("prefix:0", 2, 8, 10.0))
    assert not check_prompt("none", build("none", 2, 8, 10.0)).any()


def bursts(times, seconds=2.0, rate=16000):
    """Decaying 440 Hz tone bursts starting at ``times`` (seconds)."""
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros_like(t)
    for start in times:
        after = t >= start
        out[after] += np.sin(2 * np.pi * 440 * (t[after] - start)) * np.exp(-(t[after] - start) * 12)
    return (0.5 * out).astype(np.float32)


def test_spectral_flux_finds_the_onsets_of_tone_bursts():
    times = [0.25, 0.8, 1.3, 1.7]
    found = onset_times(bursts(times), 16000)
    assert len(found) == len(times)
    assert np.abs(found - times).max() < 0.02
    assert len(onset_times(np.zeros(16000, np.float32), 16000)) == 0


def test_onset_rule_keeps_width_frames_around_each_onset():
    audio = bursts([0.25, 1.3])
    keep = build("onsets:3", 2, 100, 50.0, audio, 16000)  # 50 frames a second: onsets at frames ~12, ~65
    kept = np.flatnonzero(keep[0])
    assert len(kept) == 6 and (keep[0] == keep[1]).all()
    assert abs(kept[1] - 12.5) <= 1.5 and abs(kept[4] - 65) <= 1.5
    with pytest.raises(CadenzaError, match="onsets need input audio"):
        build("onsets", 2, 100, 50.0)


# --- schedule, training masks and loss --------------------------------------------------------

def test_cosine_schedule():
    assert gamma(0.0) == 1.0 and abs(gamma(1.0)) < 1e-12
    assert math.isclose(gamma(0.5), math.cos(math.pi / 4))
    r = torch.linspace(0, 1, 11)
    assert torch.all(gamma(r)[1:] <= gamma(r)[:-1])


def test_training_masks_follow_the_cosine_schedule():
    generator = torch.Generator().manual_seed(0)
    mask = training_mask(4000, 2, 5, generator=generator)  # 10 tokens an example
    counts = mask.flatten(1).sum(1)
    assert counts.min() >= 1 and counts.max() <= 10
    # ceil(10 cos(pi/2 r)), r ~ U(0, 1): P(count >= k) = P(r < 2/pi acos((k - 1) / 10))
    for k in range(1, 11):
        share = (counts >= k).double().mean().item()
        assert abs(share - 2 / math.pi * math.acos((k - 1) / 10)) < 0.03, k


def test_coarse_training_masks_keep_the_first_codebooks_whole():
    mask = training_mask(300, 4, 6, coarse_share=1.0, generator=torch.Generator().manual_seed(1))
    assert not mask[:, 0].any()  # the first codebook is always kept, and sometimes only it
    rows = mask.any(2)  # [b, k]
    assert rows[:, 1].any() and (~rows[:, :3].any(1) & rows[:, 3]).any()
    random = training_mask(300, 4, 6, generator=torch.Generator().manual_seed(1))
    assert random[:, 0].any()


def tiny_net(codebooks=2, size=16, seed=0):
    torch.manual_seed(seed)
    return MaskGITNet(codebooks, size, width=16, layers=1, heads=2, dropout=0.0).eval()


def test_loss_counts_masked_tokens_only():
    net = tiny_net()
    tokens = torch.randint(0, 16, (2, 2, 10), generator=torch.Generator().manual_seed(0))
    mask = training_mask(2, 2, 10, generator=torch.Generator().manual_seed(2))
    assert 0 < mask.sum() < mask.numel()
    total, count, correct = masked_loss(net, tokens, mask)
    inputs = tokens.masked_fill(mask, net.mask_id)
    with torch.no_grad():
        log_p = net(inputs).log_softmax(-1).gather(-1, tokens[..., None])[..., 0]  # [b, k, t]
        logits = net(inputs)
    assert count == mask.sum()
    assert torch.isclose(total, -log_p[mask].sum(), rtol=1e-5)
    assert not torch.isclose(total, -log_p.sum(), rtol=1e-3)  # what counting every token would give
    assert correct == (logits.argmax(-1) == tokens)[mask].sum()
    # the gradient reaches no head through an unmasked position: its target does not matter
    other = tokens.clone()
    other[~mask] = (tokens[~mask] + 1) % 16
    net.zero_grad()
    masked_loss(net, tokens, mask)[0].backward()
    first = [p.grad.clone() for p in net.head.parameters()]
    net.zero_grad()
    hidden = net.hidden
    net.hidden = lambda _inputs: hidden(inputs)  # same inputs, other targets where unmasked
    masked_loss(net, other, mask)[0].backward()
    assert all(torch.allclose(a, p.grad, rtol=1e-5, atol=1e-7) for a, p in zip(first, net.head.parameters()))


# --- the sampler -------------------------------------------------------------------------------

def test_typical_filtering_keeps_the_most_typical_codes_up_to_the_mass():
    logits = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125]))
    # entropy 1.21 nats; |surprisal - entropy|: 0.52, 0.17, 0.87, 0.87 -> 0.25 then 0.5 are most typical
    assert torch.isfinite(typical_filter(logits, 0.2)).tolist() == [False, True, False, False]
    assert torch.isfinite(typical_filter(logits, 0.3)).tolist() == [True, True, False, False]
    assert torch.isfinite(typical_filter(logits, 0.8)).sum() == 3
    assert torch.equal(typical_filter(logits, 1.0), logits)


def prompt(frames=20, seed=0):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 16, (1, 2, frames), generator=generator)
    keep = torch.rand(1, 2, frames, generator=generator) < 0.3
    return tokens, keep


def test_sampler_keeps_the_prompt_and_fills_every_masked_token():
    net = tiny_net()
    tokens, keep = prompt()
    out = sample(net, tokens, keep, steps=5, generator=torch.Generator().manual_seed(3))
    assert out.shape == tokens.shape and out.dtype == torch.long
    assert torch.equal(out[keep], tokens[keep])
    assert out.min() >= 0 and out.max() < 16  # no MASK left


def test_sampler_same_seed_same_tokens_other_seed_other_tokens():
    net = tiny_net()
    tokens, keep = prompt(frames=30)

    def run(seed):
        return sample(net, tokens, keep, steps=4, typical_mass=0.5, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_sampler_takes_the_steps_asked_and_follows_the_schedule(steps):
    net = tiny_net()
    tokens, keep = prompt(frames=40)
    masked_in = []
    forward = net.forward

    def counting(inputs):
        masked_in.append(int((inputs == net.mask_id).sum()))
        return forward(inputs)

    net.forward = counting
    out = sample(net, tokens, keep, steps=steps, generator=torch.Generator().manual_seed(0))
    initial = int((~keep).sum())
    assert len(masked_in) == steps
    assert masked_in == [initial] + [math.floor(initial * gamma(s / steps)) for s in range(1, steps)]
    assert int((out == net.mask_id).sum()) == 0


def test_remasked_count_decides_one_token_a_step_at_least():
    initial = torch.tensor([3])
    assert remasked_count(initial, torch.tensor([3]), 0, 10).item() == 2  # floor(3 cos(pi/20)) = 2
    assert remasked_count(initial, torch.tensor([2]), 1, 10).item() == 1
    assert remasked_count(initial, torch.tensor([1]), 8, 10).item() == 0
    assert remasked_count(torch.tensor([100]), torch.tensor([5]), 9, 10).item() == 0


# --- the model ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    return from_scores([support.melody([67, 69, 71, 72], beats=0.5), support.melody([72, 76, 79], beats=0.5)],
                       73, "tiny")


@pytest.fixture(scope="module")
def codec_run(data, tmp_path_factory):
    codec = create("codec", **get("codec").tiny_config).fit(data)
    return codec.save(tmp_path_factory.mktemp("codec") / "run")


@pytest.fixture(scope="module")
def model(data, codec_run):
    return MaskGIT(**{**MaskGIT.tiny_config, "codec": str(codec_run)}).fit(data)


@pytest.fixture(scope="module")
def run(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("maskgit") / "run")


def clip(data, seconds=0.3):
    return Audio(np.asarray(data.audio[0][:int(seconds * data.sample_rate)], np.float32)[None], data.sample_rate)


def test_generation_decodes_only_the_modelled_codebooks(model, monkeypatch):
    shapes = []
    decode = model.codec_.decode
    monkeypatch.setattr(model.codec_, "decode", lambda tokens: shapes.append(tokens.shape) or decode(tokens))
    (audio,) = model.generate(n=1, seed=0, length=40, steps=2, progress=False)
    assert shapes == [(2, 40)] and model.codec_.n_q == 3
    assert len(audio) == 40 * model.codec_.frame_samples


def test_long_vamps_go_window_by_window_each_prompted_by_the_last(model, monkeypatch):
    calls = []
    real = maskgit_net.sample

    def spy(net, tokens, keep, **options):
        calls.append((tokens.clone(), keep.clone()))
        return real(net, tokens, keep, **options)

    monkeypatch.setattr(maskgit_net, "sample", spy)
    tokens = np.random.default_rng(0).integers(0, 16, (2, 50))
    keep = np.zeros((2, 50), bool)
    keep[:, ::7] = True
    out = model.vamp_tokens(tokens, keep, seed=1, steps=2, progress=False)  # window 16, overlap 4
    assert (out[keep] == tokens[keep]).all() and out.min() >= 0 and out.max() < 16
    assert [c[0].shape[-1] for c in calls] == [16, 16, 16, 14]  # starts 0, 12, 24, 36
    assert torch.equal(calls[0][1][0], torch.from_numpy(keep[:, :16]))
    for index, (window, window_keep) in enumerate(calls[1:], start=1):
        start = 12 * index
        assert window_keep[0, :, :4].all()  # the overlap is the prompt ...
        assert np.array_equal(window[0, :, :4].numpy(), out[:, start:start + 4])  # ... from the output so far
        assert np.array_equal(window_keep[0, :, 4:].numpy(), keep[:, start + 4:start + 16])


def test_vamp_keeps_the_length_and_is_seeded(model, data):
    audio = clip(data)
    a = model.vamp(audio, mask="periodic:3", steps=2, seed=4, progress=False)
    assert isinstance(a, Audio) and len(a) == len(audio) and a.sample_rate == audio.sample_rate
    assert a == model.vamp(audio, mask="periodic:3", steps=2, seed=4, progress=False)
    assert a != model.vamp(audio, mask="periodic:3", steps=2, seed=5, progress=False)


def test_vamp_continues_and_loops_to_a_longer_length(model, data):
    audio = clip(data, 0.05)
    longer, notes = model.transfer(audio, mask="prefix:0.02", seconds=0.1, steps=2, progress=False)
    assert abs(longer.seconds - 0.1) < 1e-3 and any("continued" in n for n in notes)
    looped = model.loop(audio, 0.12, mask="periodic:4", steps=2, progress=False)
    assert abs(looped.seconds - 0.12) < 1e-3
    shorter = model.vamp(audio, mask="suffix:0.01", seconds=0.03, steps=2, progress=False)  # of the 0.03 s kept
    assert abs(shorter.seconds - 0.03) < 1e-3


def test_vamp_refuses_bad_input(model, data):
    audio = clip(data)
    for mask, match in [("wobble", "bad mask"), ("periodic:1", "keeps every token"), ("prefix:0", "say none")]:
        with pytest.raises(CadenzaError, match=match):
            model.vamp(audio, mask=mask, progress=False)
    model.vamp(audio, mask="none", steps=1, progress=False)  # nothing kept, on purpose
    with pytest.raises(CadenzaError, match="silent"):
        model.vamp(Audio(np.zeros((1, 4000), np.float32), 16000))
    with pytest.raises(CadenzaError, match="too short"):
        model.vamp(Audio(np.ones((1, 3), np.float32), 16000))
    with pytest.raises(CadenzaError, match="Audio clip"):
        model.vamp(np.zeros(100))


def test_codebooks_beyond_the_codec_are_refused(data, codec_run):
    with pytest.raises(CadenzaError, match="codebooks=4, but the codec has 3"):
        MaskGIT(**{**MaskGIT.tiny_config, "codec": str(codec_run), "codebooks": 4}).fit(data)


def test_a_missing_codec_is_one_clear_error(data, tmp_path):
    with pytest.raises(CadenzaError, match="cannot be loaded"):
        MaskGIT(**{**MaskGIT.tiny_config, "codec": str(tmp_path / "nowhere")}).fit(data)


def test_masked_metrics_are_finite_and_beside_a_unigram(model, data):
    m = model.masked_metrics(data, share=0.5)
    assert m["tokens"] > 0 and 0 <= m["accuracy"] <= 1 and 0 <= m["unigram_accuracy"] <= 1
    assert math.isfinite(m["bits_per_token"]) and math.isfinite(m["unigram_bits_per_token"])
    assert m == model.masked_metrics(data, share=0.5)


def test_save_load_round_trip_vamps_the_same(model, run, data):
    loaded = load(run)
    assert loaded.codec_identity_ == model.codec_.identity
    audio = clip(data)
    assert loaded.vamp(audio, mask="periodic:5", steps=2, seed=2, progress=False) == \
        model.vamp(audio, mask="periodic:5", steps=2, seed=2, progress=False)


def test_another_codec_at_the_codec_path_is_refused(run, data, tmp_path):
    other = create("codec", **{**get("codec").tiny_config, "seed": 1}).fit(data).save(tmp_path / "other")
    copy = shutil.copytree(run, tmp_path / "run")
    record = json.loads((copy / "cadenza.json").read_text())
    record["config"]["codec"] = str(other)
    (copy / "cadenza.json").write_text(json.dumps(record))
    with pytest.raises(CadenzaError, match="is not the one this model learned") as caught:
        load(copy)
    assert "\n" not in str(caught.value)


def test_a_codec_trained_in_the_run_is_kept_in_it(data, tmp_path):
    model = MaskGIT(**MaskGIT.tiny_config).fit(data)
    run = model.save(tmp_path / "run")
    assert (run / "codec" / "cadenza.json").is_file()
    assert load(run).codec_.identity == model.codec_.identity


# --- the command line ------------------------------------------------------------------------

def test_cli_vamp_writes_the_vamp_with_a_note_on_resampling(run, data, tmp_path, capsys):
    source = tmp_path / "in.wav"
    Audio(clip(data).samples, 16000).resample(22050).write(source)
    out = tmp_path / "out.wav"
    code, stdout, stderr = support.run_cli(["vamp", source, "--model", run, "--mask", "periodic:3", "--steps", 2,
                                            "--seed", 1, "--out", out], capsys)
    assert code == 0, stderr
    assert "resampled from 22050 Hz" in stdout and out.is_file()
    written = Audio.read(out)
    assert written.sample_rate == 16000 and abs(written.seconds - 0.3) < 0.01


def test_cli_generate_makes_audio_from_nothing(run, tmp_path, capsys):
    code, _, stderr = support.run_cli(["generate", run, "--out", tmp_path / "gen", "-n", 2, "--length", 20,
                                       "--steps", 2, "--no-progress"], capsys)
    assert code == 0, stderr
    assert sorted(p.suffix for p in (tmp_path / "gen").iterdir()) == [".wav", ".wav"]


def test_cli_vamp_bad_input_is_one_line_and_writes_nothing(run, codec_run, data, tmp_path, capsys):
    good = tmp_path / "good.wav"
    clip(data).write(good)
    nan = tmp_path / "nan.wav"
    soundfile.write(nan, np.full(4000, np.nan, np.float32), 16000, subtype="FLOAT")
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(4000, np.float32), 16000)
    short = tmp_path / "short.wav"
    soundfile.write(short, np.full(3, 0.5, np.float32), 16000)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all")
    out = tmp_path / "out.wav"
    cases = [
        ([tmp_path / "missing.wav"], "no such file"),
        ([garbage], "cannot read audio"),
        ([nan], "NaN"),
        ([silent], "silent"),
        ([short], "too short"),
        ([good, "--mask", "wobble:2"], "bad mask"),
        ([good, "--mask", "periodic:1"], "keeps every token"),
        ([good, "--model", codec_run], "a codec run"),
        ([good, "--steps", 0], "--steps"),
    ]
    for args, match in cases:
        model = [] if "--model" in args else ["--model", run]
        code, _, stderr = support.run_cli(["vamp", *args, *model, "--out", out], capsys)
        assert code == 2, (args, stderr)
        assert match in stderr and len(stderr.strip().splitlines()) == 1, (args, stderr)
        assert not out.exists()
    code, _, stderr = support.run_cli(["vamp", good, "--model", run, "--out", tmp_path / "out.mp3"], capsys)
    assert code == 2 and "cannot write" in stderr


def test_a_half_precision_copy_loads_and_vamps(model, run, data, tmp_path):
    from safetensors import safe_open

    from cadenza.models.audio.maskgit import save_half_precision

    half = save_half_precision(run, tmp_path / "half")
    with safe_open(str(half / "model.safetensors"), framework="numpy") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys() if k.startswith("net.")}
    assert dtypes == {"F16"}
    loaded = load(half)
    audio = loaded.vamp(clip(data), mask="periodic:5", steps=2, seed=2, progress=False)
    assert len(audio) == len(clip(data)) and np.isfinite(audio.samples).all()


def test_shipped_vamp_model_vamps_a_recording():
    import cadenza

    model = cadenza.load("pretrained/vamp")  # refuses to load if pretrained/codec is not its codec
    assert model.codec.identity == model.codec_identity_
    t = np.arange(16000) / 16000
    tone = Audio((0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32), 16000)
    out = model.vamp(tone, mask="periodic:3", steps=4, seed=0, progress=False)
    again = model.vamp(tone, mask="periodic:3", steps=4, seed=0, progress=False)
    assert out.sample_rate == 16000 and abs(len(out) - len(tone)) <= 320 and out == again
    assert model.metrics_["test_masked_bits_per_token"] < model.metrics_["test_masked_unigram_bits_per_token"]
