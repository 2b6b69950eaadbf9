"""Shipping a run with its float weights in fp16: half the bytes, the same model once loaded.

A model that accepts fp16 weights says so in its ``_expected_arrays`` (``("F32", "F16")``)
and loading casts them back to fp32; arrays whose exact values matter (a quantiser's
codebooks, whose nearest entries pick the codes; counts) stay fp32.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np


def save_half_precision(run: str | os.PathLike, target: str | os.PathLike,
                        keep_fp32: Callable[[str], bool] = lambda name: False,
                        folders: tuple[str, ...] = ()) -> Path:
    """A copy of run ``run`` in ``target`` with every fp32 array stored as fp16 except those
    ``keep_fp32`` names; the sub-``folders`` of the run (a model it depends on) are copied as
    they are. ``cadenza.json`` is written last, as :meth:`Generator.save` does."""
    from safetensors.numpy import load_file, save_file

    from cadenza.models.base import RUN_FILE, WEIGHTS_FILE
    from cadenza.utils import atomic_path, atomic_write_text

    run, target = Path(run), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    arrays = load_file(str(run / WEIGHTS_FILE))
    half = {k: v.astype(np.float16) if v.dtype == np.float32 and not keep_fp32(k) else v for k, v in arrays.items()}
    with atomic_path(target / WEIGHTS_FILE) as tmp:
        save_file(half, str(tmp))
    for folder in folders:
        if (run / folder).is_dir():
            shutil.copytree(run / folder, target / folder, dirs_exist_ok=True)
    atomic_write_text(target / RUN_FILE, (run / RUN_FILE).read_text(encoding="utf-8"))
    return target
