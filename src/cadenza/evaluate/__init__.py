"""Evaluation: per-piece metrics, set comparison, novelty, structure, likelihood benchmarks.

    >>> from cadenza.evaluate import Reference, evaluate_set, load_generated
    >>> reference = Reference.load("bach")              # train split + real-vs-real line
    >>> result = evaluate_set(load_generated("out/"), reference)
    >>> result.summary()["metrics"]["pitch_entropy"]
"""

from cadenza.evaluate.compare import compare_sets, feature_matrix, features
from cadenza.evaluate.metrics import METRICS, key_estimate, metric_table, piece_metrics
from cadenza.evaluate.novelty import NoveltyIndex
from cadenza.evaluate.polyphonic import FrameModel, FrameProbabilityModel, PolyphonicResult, benchmark, evaluate_rolls
from cadenza.evaluate.structure import plot_self_similarity, self_similarity, structure
from cadenza.evaluate.suite import Evaluation, PieceSet, Reference, evaluate_set, load_generated

__all__ = ["METRICS", "Evaluation", "FrameModel", "FrameProbabilityModel", "NoveltyIndex",
           "PieceSet", "PolyphonicResult", "Reference", "benchmark", "compare_sets",
           "evaluate_rolls", "evaluate_set", "feature_matrix", "features", "key_estimate",
           "load_generated", "metric_table", "piece_metrics", "plot_self_similarity",
           "self_similarity", "structure"]
