"""Text prompts: captions from corpus metadata, the offline sentence encoder, and the prompted transformer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import symusic
import torch

import cadenza
from cadenza.data import captions as C
from cadenza.errors import CadenzaError
from support import melody, run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = {"layers": 1, "heads": 2, "dim": 32, "context": 48, "batch_size": 8, "max_steps": 12, "steps_per_epoch": 6,
          "transpose": 2, "keys": 1, "captions": 2, "dropout": 0.0, "learning_rate": 3e-3}

JIG = """X: 12
T:The Connaughtman's Rambles
R:double jig
N:"Lively"
M:6/8
K:D
"""


def test_abc_header_gives_the_dance_tempo_and_region():
    header = C.abc_header(JIG)
    assert header["R"] == ["double jig"] and header["T"] == ["The Connaughtman's Rambles"]
    assert C.dance_of(*header["R"]) == "jig"
    assert C.dance_of("The Rolling Waves slip jig") == "slip jig"
    assert C.dance_of("Miss McLeod's Reel") == "reel" and C.dance_of("Down the Glen") is None
    assert C.tempo_of(header, "jig") == "fast"
    assert C.tempo_of({"Q": ["1/4=60"]}, "jig") == "slow"  # a marking beats the dance's usual tempo
    assert C.tempo_of({}, None) is None
    assert C.region_of("Europa, Mitteleuropa, Deutschland, Schlesien") == "Silesia"
    assert C.region_of("Asien") is None
    assert C.genre_of("Liebes - Lied, Leid, Klage") == "love song"


def _score(key: int, minor: bool, meter=(6, 8), pitches=(62, 64, 66, 67, 69, 71), repeats: int = 4):
    score = melody(list(pitches) * repeats, beats=0.5)
    score.time_signatures.append(symusic.TimeSignature(0, *meter))
    score.key_signatures.append(symusic.KeySignature(0, key, 1 if minor else 0))
    return score


def test_facts_come_from_the_score_and_the_header():
    facts = C.score_facts(_score(2, False), "ryans", "", C.abc_header(JIG))
    assert (facts.key, facts.meter, facts.dance, facts.tempo, facts.voices) == ("D", "6/8", "jig", "fast", 1)
    assert facts.bars == 4  # 24 eighth notes: 12 quarters, four bars of 6/8
    assert facts.transposed(-3).key == "B" and facts.transposed(0) is facts
    assert C.score_facts(_score(-2, True, (3, 4))).transposed(2).key == "Am"  # G minor up a tone


def test_every_caption_says_what_the_facts_say():
    facts = C.Facts(key="Em", meter="6/8", bars=32, voices=1, collection="oneill", dance="slip jig",
                    region="Ireland", tempo="fast")
    rng = np.random.default_rng(0)
    seen = set()
    for frames in (C.TRAIN_FRAMES, C.UNSEEN_FRAMES):
        for _ in range(200):
            text = C.caption(facts, rng, frames)
            seen.add(text)
            found = C.prompt_facts(text)
            if "tonic" in found:  # a caption may leave the key out, never get it wrong
                assert (found["tonic"], found["mode"]) == ("E", "minor"), text
            if "meter" in found:
                assert found["meter"] == "6/8", text
            assert found.get("dance", "slip jig") == "slip jig", text
    assert len(seen) > 150  # the wording varies
    assert sum("E" in t for t in seen) > 100  # and the key is said most of the time


def test_prompt_facts_reads_the_usual_ways_of_asking():
    assert C.prompt_facts("a lively jig in D major") == {"tonic": "D", "mode": "major", "dance": "jig"}
    assert C.prompt_facts("A reel in the key of Bb, 2/2") == {"tonic": "Bb", "mode": "major", "meter": "2/2",
                                                             "dance": "reel"}
    assert C.prompt_facts("something in F#m, six-eight time")["meter"] == "6/8"
    assert C.prompt_facts("something in F#m")["mode"] == "minor"
    assert C.prompt_facts("a tune") == {}


def test_a_mix_of_corpora_keeps_each_piece_s_collection(monkeypatch):
    from cadenza.data import corpora

    def fake(name, split="all", progress=True, workers=None):
        if "+" in name:
            return corpora._mix(name, split, progress, workers)
        return corpora.Corpus(name, split, ["1", "2"], ["a", "b"], [_score(0, False)] * 2)
    monkeypatch.setattr(corpora, "corpus", fake)
    mixed = fake("ryans+oneill", "train")
    assert mixed.ids == ["ryans:1", "ryans:2", "oneill:1", "oneill:2"]
    assert mixed.collections == ["ryans", "ryans", "oneill", "oneill"]
    assert mixed[1:3].collections == ["ryans", "oneill"]
    with pytest.raises(CadenzaError, match="nope"):
        corpora._mix("ryans+nope", "train", False, None)
    with pytest.raises(CadenzaError, match="twice"):
        corpora._mix("ryans+ryans", "train", False, None)


# --- the encoder --------------------------------------------------------------------------------------


def test_the_encoder_gives_sentence_transformers_vectors():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from cadenza.nn.text_encoder import DIM, model_folder, text_encoder

    texts = ["a lively jig in D major", "A slow air in E minor from O'Neill's collection", "x"]
    ours = text_encoder().encode(texts)
    theirs = sentence_transformers.SentenceTransformer(str(model_folder()), device="cpu").encode(texts)
    assert ours.shape == (3, DIM)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    a, b, c = text_encoder().encode(["a jig in D major", "a D major jig", "a slow lament in F minor"])
    assert a @ b > a @ c + 0.1  # a paraphrase sits nearer than another request


# --- the model ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_corpus):
    return cadenza.create("text_transformer", **CONFIG).fit(tiny_corpus, valid=tiny_corpus[:3])


@pytest.fixture(scope="module")
def run(trained, tmp_path_factory):
    return trained.save(tmp_path_factory.mktemp("text") / "run")


def test_the_prompt_changes_the_piece_and_the_seed_repeats_it(trained):
    plain = trained.generate(n=2, seed=4, length=12)
    prompted = trained.generate(n=2, seed=4, length=12, prompt="a slow chorale in F minor", guidance=3.0)
    again = trained.generate(n=2, seed=4, length=12, prompt="a slow chorale in F minor", guidance=3.0)
    assert [p.dumps_midi() for p in prompted] == [p.dumps_midi() for p in again]
    assert [p.dumps_midi() for p in prompted] != [p.dumps_midi() for p in plain]
    # guidance 0 ignores the prompt: the unprompted model exactly
    ignored = trained.generate(n=2, seed=4, length=12, prompt="a slow chorale in F minor", guidance=0)
    assert [p.dumps_midi() for p in ignored] == [p.dumps_midi() for p in plain]


def test_guidance_mixes_the_prompted_and_empty_logits(trained):
    options = trained.Sampling(prompt="a reel in G major", guidance=2.5)
    ids = [trained.tokenizer_.bos]
    guided, _ = trained._start(ids, options)
    prompted, _ = trained._start(ids, trained.Sampling(prompt="a reel in G major", guidance=1.0))
    empty, _ = trained._start(ids, trained.Sampling())
    torch.testing.assert_close(guided, empty + 2.5 * (prompted - empty), atol=1e-4, rtol=1e-4)


def test_the_cache_gives_the_same_tokens_with_guidance(trained):
    kwargs = {"n": 1, "seed": 1, "length": 10, "prompt": "a march in C", "guidance": 2.0}
    assert trained.generate(**kwargs)[0].dumps_midi() == trained.generate(**kwargs, cache=False)[0].dumps_midi()


def test_save_and_load_give_the_same_piece(trained, run):
    loaded = cadenza.load(run)
    kwargs = {"n": 1, "seed": 2, "length": 10, "prompt": "a hymn in G major", "guidance": 2.0}
    assert loaded.generate(**kwargs)[0].dumps_midi() == trained.generate(**kwargs)[0].dumps_midi()
    assert (run / "prompt.safetensors").is_file() and (run / "config.json").is_file()
    assert json.loads((run / "cadenza.json").read_text())["model"] == "text_transformer"


def test_bad_prompts_and_damaged_runs_are_one_clear_line(trained, run, tmp_path, capsys):
    with pytest.raises(CadenzaError, match="prompt is empty"):
        trained.generate(prompt="   ")
    with pytest.raises(CadenzaError, match="characters"):
        trained.generate(prompt="jig " * 1000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained.generate(prompt="a very long jig " * 70, length=4)
    assert any("word pieces" in str(w.message) for w in caught)
    code, _, err = run_cli(["generate", run, "--prompt", "", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "prompt is empty" in err and "Traceback" not in err
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in run.iterdir():
        if file.is_file() and file.name != "prompt.safetensors":
            (broken / file.name).write_bytes(file.read_bytes())
    with pytest.raises(CadenzaError, match="prompt.safetensors"):
        cadenza.load(broken)


def test_cli_generates_from_a_prompt(run, tmp_path, capsys):
    code, out, err = run_cli(["generate", run, "--prompt", "a jig in D major", "--guidance", "2", "-n", "2",
                              "--length", "8", "--out", tmp_path / "gen"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "gen").glob("*.mid"))) == 2


def _two_keys_corpus():
    """Pieces in C major and in F# major, each key signature matching its notes, each one window long."""
    c_major, f_sharp = (60, 62, 64, 65, 67, 69, 71, 72), (66, 68, 70, 71, 73, 75, 77, 78)
    return [_score(0, False, (4, 4), c_major, 1) for _ in range(8)] + [_score(6, False, (4, 4), f_sharp, 1)
                                                                        for _ in range(8)]


def test_training_learns_to_follow_the_key_a_prompt_asks_for():
    model = cadenza.create("text_transformer", layers=1, heads=2, dim=32, context=48, batch_size=8, max_steps=300,
                           steps_per_epoch=50, transpose=0, captions=4, prompt_dropout=0.1, dropout=0.0,
                           learning_rate=5e-3, seed=0).fit(_two_keys_corpus())
    tok = model.tokenizer_
    key_c, key_fs = tok.id_of("Key_C"), tok.id_of("Key_F#")
    ids = [tok.bos, tok.id_of("Style_other")]

    def p_f_sharp(prompt):
        with torch.no_grad():
            logits, _ = model._start(ids, model.Sampling(prompt=prompt, guidance=1.0))
        pair = torch.softmax(logits[[key_c, key_fs]].double(), 0)
        return float(pair[1])
    assert p_f_sharp("a melody in F# major") > 0.7
    assert p_f_sharp("a melody in C major") < 0.3


def test_fine_tuning_refuses_a_prompted_run_by_name(run):
    from cadenza.models.symbolic.transformer import from_checkpoint

    with pytest.raises(CadenzaError, match="plain causal LM"):
        from_checkpoint(run)


def test_the_shipped_model_reads_key_and_dance_from_the_prompt():
    model = cadenza.load("pretrained/folk-text")
    tok = model.tokenizer_
    ids = [tok.bos, tok.id_of("Style_other")]

    def key_probability(prompt, key):
        with torch.no_grad():
            logits, _ = model._start(ids, model.Sampling(prompt=prompt, guidance=1.0))
        return float(torch.softmax(logits.double(), 0)[tok.id_of(f"Key_{key}")])
    # the key token the model writes first follows the prompt's key
    assert key_probability("a lively jig in D major", "D") > 2 * key_probability("a lively jig in Bb major", "D")
    assert key_probability("a slow air in E minor", "Em") > 2 * key_probability("a slow air in G major", "Em")
    piece = model.generate(n=1, seed=0, prompt="a lively jig in D major", guidance=2.0, bars=4)[0]
    assert piece.note_num() > 4
