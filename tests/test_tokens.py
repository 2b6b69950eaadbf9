"""Tokenization: round trips, conditioning, transposition, BPE, windows, and the grammar mask."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import symusic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miditok import TokSequence

from cadenza.data import token_grammar as G
from cadenza.data import token_windows as W
from cadenza.data import tokens as T
from cadenza.errors import CadenzaError
from cadenza.music.transforms import melody


def _scale(pitches, start=0, tpq=480, key=None) -> symusic.Score:
    score = symusic.Score(tpq)
    notes = [symusic.Note(start + i * tpq, tpq, p, 80) for i, p in enumerate(pitches)]
    score.tracks.append(symusic.Track("m", 0, False, notes))
    if key is not None:
        score.key_signatures.append(symusic.KeySignature(0, *key))
    return score


@functools.cache
def tokenizer(scheme="REMI", melody_only=True, conditions=True) -> T.MusicTokenizer:
    return T.MusicTokenizer(T.TokenizerSpec(scheme=scheme, melody=melody_only, conditions=conditions))


@pytest.fixture(scope="module")
def bpe_tokenizer(tiny_corpus):
    tok = T.MusicTokenizer(T.TokenizerSpec(scheme="REMI", melody=False, bpe_vocab=400))
    tok.train_bpe(list(tiny_corpus), "bach")
    return tok


@pytest.mark.parametrize("scheme", T.SCHEMES)
def test_round_trip_keeps_the_melody(tiny_corpus, scheme):
    tok = tokenizer(scheme)
    for piece in list(tiny_corpus)[:4]:
        ids = tok.encode(piece, "bach")
        back = tok.decode(ids)
        original = melody(piece).tracks[0].notes
        decoded = back.tracks[0].notes
        assert back.ticks_per_quarter == T.TPQ
        assert [n.pitch for n in decoded] == [n.pitch for n in original]
        # onsets on REMI's grid (8 a beat): within a 32nd note of the original
        assert all(abs(a.time - b.time) <= 60 for a, b in zip(decoded, original))
        assert tok.notes_in(ids) == len(original)


def test_sequences_start_with_conditioning_tokens():
    tok = tokenizer()
    ids = tok.encode(_scale([60, 62, 64, 65, 67], key=(1, 0)), "essen")  # one sharp, major: G
    names = [tok.base_names[i] for i in ids[:4]]
    assert names == ["BOS_None", "Style_essen", "Key_G", "Meter_4/4"]
    assert ids[-1] == tok.eos


def test_key_estimate_known_answers():
    assert T.score_key_name(_scale([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])) == "C"
    assert T.score_key_name(_scale([57, 59, 60, 62, 64, 65, 68, 69, 64, 57])) == "Am"
    assert T.score_key_name(_scale([60], key=(-3, 1))) == "Cm"  # three flats, minor


def test_transposition_moves_pitches_and_key_together(tiny_corpus):
    tok = tokenizer()
    base = tok.encode_base(tiny_corpus[0], "bach")
    up = tok.transpose_base(base, 3)
    before, after = tok.decode(base), tok.decode(up)
    assert [n.pitch + 3 for n in before.tracks[0].notes] == [n.pitch for n in after.tracks[0].notes]
    def key(ids):
        return next(tok.base_names[i] for i in ids if tok.base_types[i] == "Key")
    def tonic(name):
        return T.TONIC_NAMES.index(name[4:].rstrip("m"))
    assert (tonic(key(base)) + 3) % 12 == tonic(key(up)) % 12
    assert tok.transpose_base(base, 60) is None  # off the top of the vocabulary


def test_bpe_shortens_and_decodes_the_same(tiny_corpus, bpe_tokenizer):
    plain = T.MusicTokenizer(T.TokenizerSpec(scheme="REMI", melody=False))
    piece = tiny_corpus[1]
    base, merged = plain.encode(piece, "bach"), bpe_tokenizer.encode(piece, "bach")
    assert len(merged) < 0.8 * len(base)
    assert bpe_tokenizer.expand(merged) == base
    a, b = plain.decode(base).tracks[0].notes, bpe_tokenizer.decode(merged).tracks[0].notes
    assert [(n.time, n.pitch, n.duration) for n in a] == [(n.time, n.pitch, n.duration) for n in b]


def test_windows_chunk_long_pieces_and_pad(tiny_corpus):
    tok = tokenizer()
    base = [tok.encode_base(p, "bach") for p in list(tiny_corpus)[:3]]
    windows = W.TokenWindows(tok, base, context=32)
    assert len(windows) == sum(-(-(len(b) - 1) // 32) for b in base)
    batch = W.collate_windows(tok.pad)([windows[i] for i in range(len(windows))])
    assert batch["input_ids"].shape == (len(windows), 32)
    assert (batch["labels"] == W.IGNORE).sum() > 0  # the last window of a piece is padded
    # inputs and targets are the same stream shifted by one
    assert batch["input_ids"][0, 1:].tolist() == batch["labels"][0, :-1].tolist()
    with pytest.raises(CadenzaError, match="too small for one batch"):
        W.check_batch(windows, 10_000, "test")


def test_grammar_refuses_broken_sequences():
    tok = tokenizer(conditions=False)
    grammar = G.Grammar(tok)
    ids = [tok.id_of(n) for n in ("Bar_None", "Position_0", "Pitch_60", "Duration_1.0.8")]
    state = grammar.run([tok.bos] + ids)
    assert state.prev == "Duration" and state.notes == 1
    assert grammar.walk(state, tok.id_of("Position_0")) is None  # positions must rise within a bar
    assert grammar.walk(state, tok.id_of("Pitch_62")) is None  # a melody: one note an onset
    assert grammar.walk(grammar.start(), tok.eos) is None  # no empty piece
    with pytest.raises(CadenzaError):
        grammar.run([tok.bos, tok.id_of("Pitch_60")])  # REMI: a pitch needs a position first


def test_impossible_pitch_constraint_is_a_clear_error():
    with pytest.raises(CadenzaError, match="no pitch"):
        G.Grammar(tokenizer(), pitches=G.pitch_constraint("C major", 61, 61))


def _random_walk(tok, grammar, logits_rows, rng, limit=120):
    """Sample with the grammar mask from arbitrary logits, as a model would."""
    ids, state, last_whole = [tok.bos], grammar.start(), None
    for row in logits_rows[:limit]:
        allowed = grammar.mask(state)
        token = G.sample_next(row, allowed, rng, temperature=1.0)
        ids.append(token)
        if token == tok.eos:
            return ids
        state = grammar.walk(state, token)
        assert state is not None
        if state.prev == "Duration":
            last_whole = len(ids)
    return ids[:last_whole] if last_whole else ids


def _assert_valid(tok, ids, pitches=None):
    base = [b for b in tok.expand(ids) if tok.base_types[b] not in ("BOS", "EOS", "Style", "Key", "Meter")]
    seq = TokSequence(ids=base, tokens=[tok.base_names[b] for b in base])
    assert tok.tok.tokens_errors(seq) == 0
    score = tok.decode(ids)
    notes = score.tracks[0].notes
    assert len(notes) == sum(1 for b in base if b in tok.pitch_of)
    if pitches is not None:
        assert all(n.pitch in pitches for n in notes)
    if tok.spec.melody and tok.spec.scheme == "REMI":
        onsets = [n.time for n in notes]
        assert onsets == sorted(set(onsets))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), scheme=st.sampled_from(T.SCHEMES), melody_only=st.booleans(),
       scale=st.floats(0.1, 20), key=st.sampled_from([None, "D minor", "G", "Bb major"]),
       low=st.sampled_from([None, 55, 60]))
def test_any_logits_give_a_sequence_that_decodes(seed, scheme, melody_only, scale, key, low):
    tok = tokenizer(scheme, melody_only)
    pitches = G.pitch_constraint(key, low, None)
    grammar = G.Grammar(tok, pitches=pitches)
    rng = np.random.default_rng(seed)
    rows = rng.normal(scale=scale, size=(120, tok.vocab_size))
    _assert_valid(tok, _random_walk(tok, grammar, rows, rng), pitches)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), bars=st.integers(1, 4), notes=st.integers(1, 12))
def test_bpe_and_limits_keep_sequences_valid(bpe_tokenizer, seed, bars, notes):
    tok = bpe_tokenizer
    grammar = G.Grammar(tok, max_bars=bars, max_notes=notes)
    rng = np.random.default_rng(seed)
    rows = rng.normal(scale=5, size=(200, tok.vocab_size))
    ids = _random_walk(tok, grammar, rows, rng, limit=200)
    _assert_valid(tok, ids)
    base = tok.expand(ids)
    assert sum(1 for b in base if tok.base_types[b] == "Bar") <= bars
    assert tok.notes_in(ids) <= notes


def test_sampling_filters():
    rng = np.random.default_rng(0)
    logits = np.array([5.0, 4.0, 0.0, -1.0])
    allowed = np.array([True, True, True, False])
    draws = {G.sample_next(logits, allowed, rng, top_k=2) for _ in range(200)}
    assert draws == {0, 1}
    assert {G.sample_next(logits, allowed, rng, top_p=0.5) for _ in range(50)} == {0}
    assert {G.sample_next(logits, allowed, rng, temperature=100.0) for _ in range(300)} == {0, 1, 2}
