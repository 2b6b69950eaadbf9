"""Generation never changes a model: generations running at once on one loaded model (as the studio
runs them) give what the same calls give one after another."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import symusic

import cadenza
from cadenza.utils import one_thread

# Sampling options per model: several kinds of call at once (constraints, lengths, conditioning).
CALLS = {
    "markov": [{"length": 16}, {"length": 12, "key": "D minor", "cadence": True}, {"length": 10, "max_copy": 4},
               {}],
    "genetic": [{}, {"length": 8}],
    "lstm": [{"length": 10}, {"length": 8, "key": "G major", "style": "bach"}],
    "transformer": [{"length": 10}, {"length": 8, "key": "D minor", "meter": "3/4"}],
}


def _midi(pieces) -> list[bytes]:
    return [p.dumps_midi() for p in pieces]


def _loaded(name, tiny_corpus, tmp_path):
    cls = cadenza.models.base.get(name)
    model = cadenza.create(name, **cls.tiny_config)
    if cls.needs_fit:
        model.fit(list(tiny_corpus))
    return model.save(tmp_path / name)


@pytest.mark.parametrize("name", list(CALLS))
def test_concurrent_generations_equal_sequential_ones(name, tiny_corpus, tmp_path, one_torch_thread):
    run = _loaded(name, tiny_corpus, tmp_path)
    jobs = [(seed, options) for seed in (0, 1) for options in CALLS[name]]
    # A fresh load for the threads: its caches fill while they race.
    shared = cadenza.load(run)
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda job: _midi(shared.generate(n=2, seed=job[0], **job[1])), jobs * 2))
    alone = cadenza.load(run)
    sequential = [_midi(alone.generate(n=2, seed=seed, **options)) for seed, options in jobs]
    assert concurrent == sequential * 2
    assert _midi(shared.generate(n=2, seed=0, **CALLS[name][0])) == sequential[0]


def test_concurrent_harmonisations_read_the_melody_once(tmp_path):
    score = symusic.Score(480)
    pitches = [67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 67]
    score.tracks.append(symusic.Track("Melody", 0, False, [symusic.Note(i * 480, 480, p, 80)
                                                           for i, p in enumerate(pitches)]))
    path = tmp_path / "melody.mid"
    score.dump_midi(str(path))
    options = {"task": "harmonize", "melody": str(path), "population": 10, "generations": 4}
    shared = cadenza.create("genetic", **options)
    with ThreadPoolExecutor(4) as pool:
        evolved = list(pool.map(lambda seed: shared.evolve(n=1, seed=seed)[0], [0, 1, 2, 3] * 2))
    alone = cadenza.create("genetic", **options)
    expected = [alone.evolve(n=1, seed=seed)[0] for seed in (0, 1, 2, 3)]
    assert [e.score.dumps_midi() for e in evolved] == [e.score.dumps_midi() for e in expected] * 2
    assert [e.history for e in evolved] == [e.history for e in expected] * 2
    assert not hasattr(shared, "history_")


def test_one_thread_restores_the_count_after_overlapping_calls():
    import torch

    before = torch.get_num_threads()
    inside, release = threading.Barrier(3), threading.Event()

    def work():
        with one_thread():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()  # both are inside: one thread for torch
    assert torch.get_num_threads() == 1
    release.set()
    for t in threads:
        t.join()
    assert torch.get_num_threads() == before


# --- loading from many threads --------------------------------------------------------------------

def _load_and_generate(run, seed: int, start: threading.Barrier):
    """One thread's work: load the run (all threads at once), check the model is whole, generate."""
    start.wait()
    model = cadenza.load(run)
    devices = {t.device.type for t in [*model.net_.parameters(), *model.net_.buffers()]}
    return devices, _midi(model.generate(n=1, seed=seed, length=12))


@pytest.mark.parametrize("name", ["pretrained/folk", "lstm"])
def test_loads_in_many_threads_give_whole_models_that_generate_as_one_load_does(name, tiny_corpus, tmp_path,
                                                                             one_torch_thread):
    # Hugging Face's from_pretrained patches process-wide state while it builds: unserialised, four
    # loads at once left the output head on the meta device (NaN probabilities, or other music).
    from transformers import PreTrainedModel

    tie_weights = PreTrainedModel.tie_weights
    run = name if name.startswith("pretrained/") else _loaded(name, tiny_corpus, tmp_path)
    start = threading.Barrier(8)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _load_and_generate(run, i % 4, start), range(8)))
    alone = cadenza.load(run)
    sequential = [_midi(alone.generate(n=1, seed=seed, length=12)) for seed in range(4)]
    assert [devices for devices, _ in results] == [{"cpu"}] * 8
    assert [pieces for _, pieces in results] == sequential * 2
    assert PreTrainedModel.tie_weights is tie_weights  # no patch of transformers left behind


def test_fresh_transformers_built_while_runs_load_are_tied(one_torch_thread):
    # Training builds its network with from_config; beside a from_pretrained in another thread it
    # could run while tie_weights is patched out, and train an untied, half-initialised head.
    folk = cadenza.load("pretrained/folk")
    cls = cadenza.models.get("transformer")
    start = threading.Barrier(8)

    def work(i):
        start.wait()
        if i % 2:
            return cadenza.load("pretrained/folk").net_
        model = cadenza.create("transformer", **cls.tiny_config)
        model.tokenizer_ = folk.tokenizer_
        return model._build_net(folk.tokenizer_.vocab_size)

    with ThreadPoolExecutor(8) as pool:
        nets = list(pool.map(work, range(8)))
    for net in nets:
        assert net.lm_head.weight is net.transformer.wte.weight
        assert not any(p.is_meta for p in net.parameters())


# --- the studio: one load a run, whatever the number of sessions ----------------------------------------

def _studio(tmp_path):
    from cadenza.studio.service import Studio

    return Studio(runs=tmp_path / "runs", references={}, session_root=tmp_path / "sessions", corpora={})


def test_sessions_asking_for_one_run_at_once_share_one_load(tiny_corpus, tmp_path, monkeypatch):
    import time

    from cadenza.models import base

    cadenza.create("markov").fit(list(tiny_corpus)[:3]).save(tmp_path / "runs" / "tunes")
    studio = _studio(tmp_path)
    calls = []
    real_load = base.load

    def slow_load(path):
        calls.append(path)
        time.sleep(0.3)  # long enough for every session to arrive while the first one loads
        return real_load(path)

    monkeypatch.setattr(base, "load", slow_load)
    with ThreadPoolExecutor(6) as pool:
        models = list(pool.map(lambda _: studio.load_run("tunes"), range(6)))
    assert len(calls) == 1
    assert all(m is models[0] for m in models)
    # a run changed on disk is loaded again, once
    cadenza.create("markov", order=1).fit(list(tiny_corpus)[:3]).save(tmp_path / "runs" / "tunes")
    again = studio.load_run("tunes")
    assert len(calls) == 2 and again is not models[0] and again.config.order == 1


def test_a_run_that_fails_to_load_is_never_handed_out(tiny_corpus, tmp_path):
    run = cadenza.create("markov").fit(list(tiny_corpus)[:3]).save(tmp_path / "runs" / "tunes")
    (run / "model.safetensors").write_bytes(b"garbage")
    studio = _studio(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _outcome(lambda: studio.load_run("tunes")), range(4)))
    assert all(isinstance(o, cadenza.CadenzaError) and "damaged weights" in str(o) for o in outcomes)
    cadenza.create("markov").fit(list(tiny_corpus)[:3]).save(run)  # repaired: now it loads
    assert studio.load_run("tunes").is_fitted()


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # the test looks at what each session got
        return exc
