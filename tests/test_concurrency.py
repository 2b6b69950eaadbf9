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
