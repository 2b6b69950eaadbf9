"""Shared fixtures. The corpus cache for tests lives in .test-cache/ (built once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CADENZA_CACHE", str(ROOT / ".test-cache"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

def _shared_data() -> Path:
    """The shared benchmark data: $CADENZA_SHARED_DATA, or a ``shared/`` beside a parent folder."""
    if os.environ.get("CADENZA_SHARED_DATA"):
        return Path(os.environ["CADENZA_SHARED_DATA"])
    for parent in ROOT.parents:
        candidate = parent / "shared" / "data" / "polyphonic"
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/data/polyphonic")


SHARED_DATA = _shared_data()


@pytest.fixture(scope="session")
def bach():
    """All 371 chorales (builds the cache on first use, about 20 s on 2 cores)."""
    import cadenza

    return cadenza.corpus("bach", progress=False)


@pytest.fixture(scope="session")
def tiny_corpus(bach):
    """Twelve training chorales: small enough for every model's contract test."""
    import cadenza

    return cadenza.corpus("bach", split="train", progress=False)[:12]


@pytest.fixture(scope="session")
def jsb_path():
    path = SHARED_DATA / "JSB_Chorales.mat"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: more threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
