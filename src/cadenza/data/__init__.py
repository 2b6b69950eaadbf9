"""Corpora, splits and caches."""

from cadenza.data.corpora import CORPORA, Corpus, build_cache, corpus, split_of
from cadenza.data.polyphonic import load_piano_rolls, roll_to_score, score_to_roll

__all__ = ["CORPORA", "Corpus", "build_cache", "corpus", "load_piano_rolls",
           "roll_to_score", "score_to_roll", "split_of"]
