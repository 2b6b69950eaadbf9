"""The contract every Cadenza model keeps, as checks anyone can run on their own model,
in the spirit of scikit-learn's ``parametrize_with_checks``::

    from cadenza.testing import parametrize_with_checks

    @parametrize_with_checks(["markov", MyModel])
    def test_contract(model_name, check, contract_data):
        check(model_name, contract_data)

Each check takes the model's registered name (or class) and a :class:`ContractData`
(tiny training data of both kinds) and fails with an ``AssertionError`` or
``pytest.fail`` where the model breaks the contract: fit on tiny data returns the
model, generation gives playable pieces, the same seed gives the same output,
piece ``i`` does not depend on ``n``, save then load gives the same output, a
likelihood where there is one is finite, and bad input gives a clear
:class:`~cadenza.errors.CadenzaError`. Models that declare abilities are held to
them: a stream gives what an offline render gives, a transfer returns audio, a
codec's tokens decode, a latent space round-trips its shape.

The project's own contract test (tests/test_contract.py) runs these over every
registered model.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import symusic

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.base import Generator, available


@dataclass
class ContractData:
    """Tiny data for the checks: a few scores, and a few seconds of audio (an AudioSet)
    for audio models, made once by :func:`contract_data`."""

    scores: list
    audio: object = None  # an AudioSet
    _fitted: dict = field(default_factory=dict, repr=False)

    def for_model(self, model: Generator):
        return self.audio if model.domain == "audio" else self.scores


def contract_data(scores: list | None = None, seconds: float = 6.0) -> ContractData:
    """Twelve Bach chorales and ``seconds`` of their top voices on the GM flute."""
    from cadenza.data.audio_sets import from_scores

    scores = scores if scores is not None else list(cadenza.corpus("bach", split="train", progress=False)[:12])
    audio = from_scores(scores[:4], 73, "contract", "train", max_seconds=seconds)
    return ContractData(scores, audio)


def _class(model) -> type[Generator]:
    return model if isinstance(model, type) else available()[model]


def fresh(model) -> Generator:
    """A new model with its tiny settings (``tiny_config``)."""
    cls = _class(model)
    return cls(**cls.tiny_config)


def fitted(model, data: ContractData) -> Generator:
    """The model fitted on the tiny data (fitted once, then shared by the checks)."""
    cls = _class(model)
    if cls not in data._fitted:
        instance = fresh(cls)
        result = instance.fit(data.for_model(instance)) if instance.learns_from_data else instance
        assert result is instance, "fit must return self"
        data._fitted[cls] = instance
    return data._fitted[cls]


def fingerprint(pieces) -> list:
    """Comparable content of generated pieces: MIDI bytes, or audio samples and rate."""
    from cadenza.audio.io import Audio

    out = []
    for piece in pieces:
        if isinstance(piece, symusic.core.ScoreTick):
            out.append(piece.dumps_midi())
        else:
            assert isinstance(piece, Audio), f"generate returned a {type(piece).__name__}"
            out.append((piece.samples.tobytes(), piece.sample_rate))
    return out


def _raises(exception, match: str | None = None):
    import pytest

    return pytest.raises(exception, match=match)


# --- the checks -----------------------------------------------------------------------------

def check_unknown_option_is_a_clear_error(model, data):
    with _raises(CadenzaError, "unknown"):
        _class(model)(no_such_option=1)


def check_untrained_model_refuses_to_generate(model, data):
    instance = fresh(model)
    if instance.needs_fit:
        with _raises(CadenzaError, "not trained"):
            instance.generate(n=1, seed=0)


def check_fit_on_empty_data_is_a_clear_error(model, data):
    instance = fresh(model)
    if instance.needs_fit:
        with _raises(CadenzaError):
            instance.fit([])


def check_generate_gives_playable_pieces(model, data):
    from cadenza.audio.io import Audio

    instance = fitted(model, data)
    pieces = instance.generate(n=2, seed=0, **instance.tiny_sampling)
    assert len(pieces) == 2
    for piece in pieces:
        if instance.domain == "symbolic":
            assert isinstance(piece, symusic.core.ScoreTick)
            assert sum(len(t.notes) for t in piece.tracks) > 0
            again = symusic.Score.from_midi(piece.dumps_midi())
            assert again.note_num() == piece.note_num()
        else:
            assert isinstance(piece, Audio), f"an audio model returns Audio, not {type(piece).__name__}"
            assert piece.samples.dtype == np.float32 and piece.samples.ndim == 2 and len(piece) > 0
            assert np.isfinite(piece.samples).all() and piece.sample_rate > 0


def check_same_seed_same_output(model, data):
    instance = fitted(model, data)
    a = instance.generate(n=2, seed=7, **instance.tiny_sampling)
    b = instance.generate(n=2, seed=7, **instance.tiny_sampling)
    assert fingerprint(a) == fingerprint(b)
    # Piece i depends on the seed and i only, not on how many were asked for.
    assert fingerprint(instance.generate(n=1, seed=7, **instance.tiny_sampling)) == fingerprint(a[:1])


def check_different_seeds_differ(model, data):
    instance = fitted(model, data)
    if getattr(instance, "deterministic", False):
        return  # this model ignores the seed by design
    a = instance.generate(n=3, seed=1, **instance.tiny_sampling)
    b = instance.generate(n=3, seed=2, **instance.tiny_sampling)
    assert fingerprint(a) != fingerprint(b)


def check_save_then_load_gives_the_same_output(model, data):
    instance = fitted(model, data)
    with tempfile.TemporaryDirectory() as folder:
        run = instance.save(f"{folder}/run")
        assert (run / "cadenza.json").is_file()
        loaded = cadenza.load(run)
        assert type(loaded) is type(instance)
        assert loaded.config == instance.config
        assert fingerprint(loaded.generate(n=2, seed=3, **instance.tiny_sampling)) == \
            fingerprint(instance.generate(n=2, seed=3, **instance.tiny_sampling))


def check_log_prob_is_finite_where_defined(model, data):
    instance = fitted(model, data)
    held_out = data.scores[:3] if instance.domain == "symbolic" else data.audio
    try:
        result = instance.log_prob(held_out)
    except CadenzaError as exc:
        assert "likelihood" in str(exc), f"a model without a likelihood says so, not: {exc}"
        return
    assert result.events > 0
    assert math.isfinite(result.total) and result.total < 0


def check_bad_sampling_option_is_a_clear_error(model, data):
    instance = fitted(model, data)
    with _raises(CadenzaError):
        instance.generate(n=1, seed=0, no_such_sampling_option=3)
    with _raises(CadenzaError):
        instance.generate(n=0, seed=0)


def check_declared_abilities_hold(model, data):
    """Streaming: block by block equals offline; Transfer: audio in, audio out; Codec and
    LatentSpace: encode then decode gives audio at the model's rate."""
    from cadenza.audio.io import Audio
    from cadenza.models.abilities import CONTROLS, Codec, LatentSpace, Streaming, Transfer
    from cadenza.realtime.stream import Stream, run_blocks

    instance = fitted(model, data)
    unknown = set(instance.controls) - set(CONTROLS)
    assert not unknown, f"undeclared control names {sorted(unknown)} (see cadenza.models.abilities.CONTROLS)"
    clip = None
    if data.audio is not None:  # a second from the middle of the first clip: notes, not silence
        samples = np.asarray(data.audio.audio[0], np.float32)
        start = max(0, len(samples) // 2 - data.audio.sample_rate // 2)
        clip = Audio(samples[start:start + data.audio.sample_rate], data.audio.sample_rate)
    if isinstance(instance, Streaming):
        score = data.scores[0]
        offline = instance.render_score(score, seed=1, max_frames=200)
        stream = instance.stream(1)
        assert isinstance(stream, Stream)
        blocks = instance.score_blocks(score, instance.hop * 16)
        frames, chunks = 0, []
        for block in blocks:
            chunks.append(block)
            frames += len(block)
            if frames >= 200:
                break
        streamed = run_blocks(instance.stream(1), chunks)[:, : len(offline)]
        assert np.abs(streamed - offline.samples).max() < 1e-4, "streamed audio differs from offline audio"
    if isinstance(instance, Transfer) and clip is not None:
        out, notes = instance.transfer(clip)
        assert isinstance(out, Audio) and isinstance(notes, list) and np.isfinite(out.samples).all()
    if isinstance(instance, Codec) and clip is not None:
        tokens = instance.encode(clip)
        assert tokens.ndim == 2 and np.issubdtype(tokens.dtype, np.integer)
        assert tokens.min() >= 0 and tokens.max() < instance.codebook_size
        assert isinstance(instance.decode(tokens), Audio)
    if isinstance(instance, LatentSpace) and clip is not None:
        latent = instance.encode(clip)
        assert latent.ndim == 2 and latent.shape[0] == instance.latent_size
        assert isinstance(instance.decode(latent), Audio)


CHECKS: tuple[Callable, ...] = (
    check_unknown_option_is_a_clear_error,
    check_untrained_model_refuses_to_generate,
    check_fit_on_empty_data_is_a_clear_error,
    check_generate_gives_playable_pieces,
    check_same_seed_same_output,
    check_different_seeds_differ,
    check_save_then_load_gives_the_same_output,
    check_log_prob_is_finite_where_defined,
    check_bad_sampling_option_is_a_clear_error,
    check_declared_abilities_hold,
)


def parametrize_with_checks(models):
    """A ``pytest.mark.parametrize`` over ``(model, check)`` for every check and model
    (registered names or classes); the test function takes ``model_name, check``."""
    import pytest

    cases = [(m, c) for m in models for c in CHECKS]
    ids = [f"{_class(m).name}-{c.__name__.removeprefix('check_')}" for m, c in cases]
    return pytest.mark.parametrize("model_name, check", cases, ids=ids)


@contextmanager
def registered(cls: type[Generator]):
    """Register ``cls`` for the duration of a ``with`` block (for testing a model that
    lives outside the package: the CLI and the studio find it while it is registered)."""
    from cadenza.models import base

    base.available()
    base.register(cls)
    try:
        yield cls
    finally:
        base._REGISTRY.pop(cls.name, None)
