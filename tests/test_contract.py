"""One contract over every registered model, like scikit-learn's check_estimator.

The checks live in :mod:`cadenza.testing` so that a model written outside the
package can be held to the same contract. A new technique passes all of them or
is not registered: fit on tiny data (scores, or a few seconds of audio),
generate, same seed gives the same output, save then load gives the same
output, bad input gives a clear error, declared abilities hold.
"""

from __future__ import annotations

import pytest

from cadenza.models.base import available
from cadenza.testing import contract_data, parametrize_with_checks

MODELS = sorted(available())


@pytest.fixture(scope="module")
def data(tiny_corpus):
    return contract_data(list(tiny_corpus))


def test_registry_lists_every_technique():
    assert {"markov", "lstm", "transformer", "polyphonic", "ddsp"} <= set(MODELS)


@parametrize_with_checks(MODELS)
def test_contract(model_name, check, data):
    check(model_name, data)
