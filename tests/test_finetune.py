"""`cadenza finetune`: from a Cadenza run or a bare Hugging Face directory, loss before and after."""

from __future__ import annotations

import pytest

import cadenza
from support import run_cli

CONFIG = {"layers": 1, "heads": 2, "dim": 32, "context": 64, "batch_size": 4, "max_steps": 6, "steps_per_epoch": 3,
              "transpose": 0, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")




@pytest.fixture(scope="module")
def folder(bach, tmp_path_factory):
    """A folder of MIDI files with pieces in both the train and the valid split."""
    from cadenza.music.io import write_midi

    out = tmp_path_factory.mktemp("tunes")
    for index, piece in enumerate(list(bach)[:40]):
        name = f"tune{index:02d}"
        write_midi(piece, out / f"{name}.mid")
    return out


@pytest.fixture(scope="module")
def pretrained(tiny_corpus, tmp_path_factory):
    model = cadenza.create("transformer", **CONFIG).fit(tiny_corpus)
    return model.save(tmp_path_factory.mktemp("pre") / "run")


def test_finetune_a_run_shows_the_loss_before_and_after(pretrained, folder, tmp_path, capsys):
    code, out, err = run_cli(["finetune", pretrained, "--data", folder, "--out", tmp_path / "ft",
                          "--max-steps", 6, "--steps-per-epoch", 3, "--learning-rate", 3e-3], capsys)
    assert code == 0, err
    assert "valid loss" in out and "before" in out and "after" in out
    tuned = cadenza.load(tmp_path / "ft")
    assert tuned.metrics_["valid_loss_after"] < tuned.metrics_["valid_loss_before"]
    assert tuned.tokenizer_.fingerprint() == cadenza.load(pretrained).tokenizer_.fingerprint()
    assert tuned.generate(n=1, seed=0, length=8)[0].note_num() > 0


def test_finetune_a_bare_hf_directory_resizes_the_embeddings(folder, tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    bare = tmp_path / "bare"
    GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=1, n_head=2)).save_pretrained(bare)
    code, out, err = run_cli(["finetune", bare, "--data", folder, "--out", tmp_path / "ft2",
                          "--max-steps", 3, "--steps-per-epoch", 3], capsys)
    assert code == 0, err
    assert "resized the embeddings" in out
    tuned = cadenza.load(tmp_path / "ft2")
    assert tuned.net_.get_input_embeddings().weight.shape[0] == tuned.tokenizer_.vocab_size


def test_finetune_bad_checkpoints_are_one_line(folder, tmp_path, capsys):
    code, _, err = run_cli(["finetune", tmp_path / "nowhere", "--data", folder, "--out", tmp_path / "x"], capsys)
    assert code == 2 and "no such checkpoint" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["finetune", tmp_path / "empty", "--data", folder, "--out", tmp_path / "x"], capsys)
    assert code == 2 and "config.json" in err and "Traceback" not in err
