"""The one API every technique shares, the model registry and the run directory.

The discipline is scikit-learn's: the constructor only stores configuration
(one dataclass a model, ``Config``), ``fit`` sets learned state in attributes
ending in ``_`` and returns ``self``; generation options live in a second
dataclass, ``Sampling``, so that the CLI and the studio can list every
control of every model, with defaults and help, without knowing the model.

Symbolic models fit on scores and generate ``symusic.Score`` objects; audio
models fit on audio data and generate :class:`cadenza.audio.Audio` clips.
What a model can do beyond that (stream, transfer, codec, latent space) it
declares by inheriting the classes in :mod:`cadenza.models.abilities`, and
the conditioning it takes in ``controls``.

A run directory holds ``cadenza.json`` (model name, config, data spec,
package version, metrics) and the learned state in ``model.safetensors``
(plain arrays, never pickles). ``load`` rebuilds the model from those two.
How it was trained (devices, precision, time budget) is not part of it: a
run trained on a GPU loads on a CPU.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import numbers
import os
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import symusic

from cadenza.config import SEED, build_dataclass, coerce, option  # noqa: F401  (re-exported)
from cadenza.errors import CadenzaError
from cadenza.models import run_check
from cadenza.utils import atomic_path, atomic_write_text

FORMAT_VERSION = 2  # 2: training options (accelerator ... precision, max_minutes) left the config
RUN_FILE = "cadenza.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class Sampling:
    """Generation options every model accepts."""

    length: int | None = option(None, "Length of each piece, in the model's events (notes, "
                                      "frames or steps); None lets the model stop by itself.", min=1, max=1_000_000)
    temperature: float = option(1.0, "Sampling temperature: below 1 is more conservative, "
                                     "above 1 more adventurous.", above=0, max=100)


@dataclass(frozen=True)
class LogProb:
    """Log-likelihood of some pieces: a total in nats over a count of events."""

    total: float  # natural log, summed over events
    events: int

    @property
    def nats_per_event(self) -> float:
        return -self.total / self.events if self.events else math.nan

    @property
    def bits_per_event(self) -> float:
        return self.nats_per_event / math.log(2)


class Generator:
    """Base class of every technique. Subclasses set ``Config`` and ``Sampling``.

    Subclasses implement ``_fit``, ``_generate_one`` and, where they learn,
    ``_state``/``_load_state``; ``_log_prob`` where a likelihood is defined.
    """

    name: ClassVar[str] = ""
    domain: ClassVar[str] = "symbolic"  # or "audio"
    needs_fit: ClassVar[bool] = True  # generate refuses until fit has run
    learns_from_data: ClassVar[bool] = True  # fit uses the data (listed by `cadenza train`)
    # Conditioning inputs, by the names in cadenza.models.abilities.CONTROLS.
    controls: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type] = dataclass(type("Config", (), {}))
    Sampling: ClassVar[type] = Sampling
    # Config and sampling options small enough for the contract test and CPU
    # smoke runs (like scikit-learn's test parameters): seconds, not minutes.
    tiny_config: ClassVar[dict] = {}
    tiny_sampling: ClassVar[dict] = {}
    # Named bundles of config values, named for where or what they are for: "laptop" (a CPU in
    # minutes), "gpu", a data set ("jsb"): create(name, preset="laptop", **overrides).
    presets: ClassVar[dict[str, dict]] = {}
    # Options added after runs were saved without them, with the value those runs were trained
    # with where it differs from the new default: a saved run loads as it was trained.
    earlier_defaults: ClassVar[dict] = {}

    def __init__(self, **config):
        self.config = build_dataclass(self.Config, config, f"{self.name} option")
        self.data_spec_: dict | None = None
        self.metrics_: dict = {}

    # --- the public API -------------------------------------------------------

    def fit(self, data, valid=None, workdir: str | os.PathLike | None = None, progress: bool = False,
            trainer=None) -> Generator:
        """Learn from ``data`` (scores for a symbolic model; an audio set for an audio model).

        ``valid``, ``workdir`` (checkpoints and logs, resumed when run again),
        ``progress`` and ``trainer`` (:class:`cadenza.train.TrainerOptions`:
        devices, precision, time budget) matter to models trained with the
        engine; the others accept and ignore them, so every caller fits the same way.
        """
        spec = getattr(data, "spec", None)
        pieces = self._training_data(data)
        self._fit(pieces)
        self.data_spec_ = spec or {"pieces": len(pieces)}
        return self

    def _training_data(self, data, split: str = "train") -> list:
        """``data`` as a list of Scores, or one clear error (audio models override this).
        Only training data must be non-empty."""
        pieces = list(data)
        if not pieces and split == "train":
            raise CadenzaError(f"{self.name}: cannot fit on an empty corpus")
        for piece in pieces:
            if not isinstance(piece, symusic.core.ScoreTick):
                raise CadenzaError(f"{self.name}: expects symusic Scores, got {type(piece).__name__}")
        return pieces

    def generate(self, n: int = 1, seed: int = 0, **sampling) -> list:
        """``n`` pieces; piece ``i`` depends only on ``seed`` and ``i``, not on ``n``."""
        if not _whole(n) or n < 1:
            raise CadenzaError(f"n must be a whole number, at least 1, got {n!r}")
        if not _whole(seed) or seed not in SEED:
            raise CadenzaError(f"seed must be a whole number {SEED}, got {seed!r}")
        self._check_fitted()
        # the sampling options' ranges (temperature above 0, ...) are checked here too
        options = build_dataclass(self.Sampling, sampling, f"{self.name} sampling option")
        seeds = np.random.SeedSequence(seed).spawn(n)
        return self._generate_many([np.random.default_rng(s) for s in seeds], options)

    def log_prob(self, data: Iterable) -> LogProb:
        self._check_fitted()
        if type(self)._log_prob is Generator._log_prob:  # no likelihood: say so before reading data
            return self._log_prob([])
        pieces = self._training_data(data, split="test")
        if not len(pieces):
            raise CadenzaError(f"{self.name}: log_prob needs at least one piece")
        return self._log_prob(pieces)

    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> Path:
        """Write a run directory. Each file is written atomically, ``cadenza.json``
        last, and files already there (training checkpoints, logs, samples) stay."""
        from cadenza import __version__

        self._check_fitted()
        if metrics:
            self.metrics_.update(metrics)
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise CadenzaError(f"{path}: exists and is not a directory")
        record = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": dataclasses.asdict(self.config),
            "data": self.data_spec_,
            "cadenza_version": __version__,
            "metrics": self.metrics_,
        }
        arrays, extra = self._state()
        record["state"] = extra
        path.mkdir(parents=True, exist_ok=True)
        if arrays:
            from safetensors.numpy import save_file
            with atomic_path(path / WEIGHTS_FILE) as tmp:
                save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        self._save_files(path)
        atomic_write_text(path / RUN_FILE, json.dumps(record, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Generator:
        return load(path)

    # --- hooks for subclasses -------------------------------------------------

    def _fit(self, pieces: list[symusic.Score]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _fit")

    def _generate_one(self, rng: np.random.Generator, options) -> Any:
        """One piece: a ``symusic.Score`` (symbolic) or an :class:`~cadenza.audio.Audio` (audio)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _generate_one")

    def _generate_many(self, rngs: list[np.random.Generator], options) -> list:
        """One piece an rng; a model that generates faster side by side overrides this
        (each piece must still depend only on its own rng)."""
        return [self._generate_one(rng, options) for rng in rngs]

    def _log_prob(self, pieces: list[symusic.Score]) -> LogProb:
        raise CadenzaError(f"{self.name} does not define a likelihood")

    def _state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Learned state as arrays (to safetensors) and JSON-able extras."""
        return {}, {}

    def _expected_arrays(self, extra: dict, directory: Path, header: dict) -> dict:
        """The tensors ``model.safetensors`` must hold for this config and ``extra`` (the run's
        ``state``): name -> :class:`~cadenza.models.run_check.ArraySpec` (shape, dtypes).

        ``load`` calls it before reading any array, on PyTorch's meta device and under
        :func:`~cadenza.models.run_check.size_guard`: a neural model builds its network here
        (shapes, no storage) and returns :func:`~cadenza.models.run_check.module_spec` of it.
        ``header`` is what the file holds, for a model that accepts older names. Read here
        whatever the shapes depend on (a tokenizer). The default: no tensors at all.
        """
        return {}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict) -> None:
        pass

    def _save_files(self, directory: Path) -> None:
        """Write files of other formats (a Hugging Face model directory, a tokenizer)."""

    def _load_files(self, directory: Path) -> None:
        """Read what ``_save_files`` wrote; called after ``_load_state``."""

    def is_fitted(self) -> bool:
        return not self.needs_fit or self.data_spec_ is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise CadenzaError(f"{self.name} is not trained yet: call fit first (cadenza train {self.name})")

    def __repr__(self) -> str:
        changed = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)
                   if getattr(self.config, f.name) != _default(f)}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({args})"


def _whole(value: Any) -> bool:
    """An integer (Python's or numpy's), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


# --- registry ---------------------------------------------------------------------

_REGISTRY: dict[str, type[Generator]] = {}
_DISCOVERED = False


def register(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make a model available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _model_modules() -> list[str]:
    """The modules under ``cadenza.models`` that may register a model (listed, not imported).

    Training recipes (``*_system``) import Lightning, which is slow: a model imports its
    system when it trains, and nothing there registers a model. Networks and datasets
    (``*_net``) and exports (``*_export``) import torch: a model imports its net when it
    builds one, so listing the models (``cadenza generate --help``) stays torch-free.
    """
    import cadenza.models as package

    names = [info.name for info in pkgutil.walk_packages(package.__path__, prefix="cadenza.models.")]
    return [n for n in names
            if not n.rsplit(".", 1)[-1].startswith("_") and not n.endswith(("_system", "_net", "_export"))]


def _discover() -> None:
    """Import every module under ``cadenza.models`` so that its ``@register`` runs."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    for module in _model_modules():
        importlib.import_module(module)
    _DISCOVERED = True


def available() -> dict[str, type[Generator]]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def find(name: str) -> type[Generator] | None:
    """The model registered as ``name``, or None.

    Each model lives in a module named after it (``markov`` in ``models/symbolic/markov.py``),
    so only that module is imported: asking for one model does not import every model's
    libraries (torch), which keeps ``cadenza generate markov --help`` quick. A name that could
    be a model but is not found that way (a model in a module of another name) falls back to
    importing every model; a path (``pretrained/folk``, ``runs/x``) cannot be a model's name.
    """
    if name not in _REGISTRY and not _DISCOVERED:
        for module in _model_modules():
            if module.rsplit(".", 1)[-1] == name:
                importlib.import_module(module)
        if name not in _REGISTRY and name.isidentifier():
            _discover()
    return _REGISTRY.get(name)


def get(name: str) -> type[Generator]:
    cls = find(name)
    if cls is None:
        raise CadenzaError(f"unknown model {name!r} (available: {', '.join(available())})")
    return cls


def create(name: str, preset: str | None = None, **config) -> Generator:
    """A new, unfitted model: ``create("markov", order=3)``.

    ``preset`` names a bundle of config values of the model (``laptop`` for a
    laptop CPU, ``gpu`` for a GPU, or a data set's); explicit values override it.
    """
    cls = get(name)
    if preset is not None:
        if preset not in cls.presets:
            known = ", ".join(cls.presets) or "none"
            raise CadenzaError(f"{name} has no preset {preset!r} (presets: {known})")
        config = {**cls.presets[preset], **config}
    return cls(**config)


PRETRAINED_PREFIX = "pretrained/"


def pretrained_dir() -> Path:
    """Where the checkpoints that ship inside the package live."""
    return Path(__file__).resolve().parents[1] / "pretrained"


def resolve_run(path: str | os.PathLike) -> Path:
    """A run directory path; ``pretrained/NAME`` names a checkpoint shipped in the package."""
    text = str(path)
    if text.startswith(PRETRAINED_PREFIX) and not Path(text).exists():
        return pretrained_dir() / text[len(PRETRAINED_PREFIX):]
    return Path(path)


def is_run(path: str | os.PathLike) -> bool:
    return (resolve_run(path) / RUN_FILE).is_file()


def _run_record(path: Path) -> dict:
    """The run record of ``path``, checked by type (see :mod:`cadenza.models.run_check`)."""
    if not path.exists():
        raise CadenzaError(f"{path}: no such run directory")
    file = path / RUN_FILE
    if not file.is_file():
        raise CadenzaError(f"{path}: not a Cadenza run (no {RUN_FILE})")
    record = run_check.read_json(file, path, run_check.MAX_RUN_FILE_BYTES)
    run_check.check_record(record, path, RUN_FILE)
    return _migrate(record, file)


def run_class(path: str | os.PathLike) -> type[Generator]:
    """The model class of a run directory, without loading its weights."""
    path = resolve_run(path)
    try:
        return get(_run_record(path)["model"])
    except CadenzaError as exc:
        raise run_check.in_run(path, exc) from None


def load(path: str | os.PathLike) -> Generator:
    """Load any run directory written by :meth:`Generator.save` (or ``pretrained/NAME``).

    Everything in the directory is checked before it is used (the steps and limits are in
    :mod:`cadenza.models.run_check`); a damaged or hostile run ends in one CadenzaError line
    that names the folder. Safe to call from many threads at once: loads take turns (building
    a Hugging Face model touches process-wide state), and each returns a whole model.
    """
    path = resolve_run(path)
    record = _run_record(path)
    with run_check.BUILD_LOCK:
        try:
            return _load(path, record)
        except CadenzaError as exc:
            raise run_check.in_run(path, exc) from None


def _load(path: Path, record: dict) -> Generator:
    """The steps of :func:`load` once the record is read, in the order of :mod:`~cadenza.models.run_check`."""
    cls = get(record["model"])
    config = record.get("config", {})
    run_check.check_config(cls.Config, config, path, f"{cls.name} option")
    config = {**cls.earlier_defaults, **config}
    model = cls(**config)
    extra = record.get("state", {})
    weights = path / WEIGHTS_FILE
    header = run_check.read_header(weights, path) if weights.is_file() else {}
    try:
        with run_check.size_guard(path):
            expected = model._expected_arrays(extra, path, header)
        if expected and not weights.is_file():
            raise CadenzaError(f"{path}: checkpoint incomplete, missing {WEIGHTS_FILE}")
        run_check.compare(header, expected, path, WEIGHTS_FILE)
        arrays = run_check.read_arrays(weights, path) if header else {}
        model._load_state(arrays, extra)
        model._load_files(path)
    except run_check.LOAD_ERRORS as exc:
        raise CadenzaError(f"{path}: run state does not match its model ({run_check.one_line(exc)})") from None
    run_check.check_modules(model, path)
    model.data_spec_ = record.get("data") or {}
    model.metrics_ = record.get("metrics", {})
    return model


# Config keys that format 1 stored and format 2 keeps out of a run: how a model was trained.
_TRAINER_KEYS_V1 = ("accelerator", "devices", "num_nodes", "strategy", "precision", "max_minutes")


def _migrate(record: dict, file: Path) -> dict:
    """A run record in the current format, from any format this version can read."""
    from cadenza import __version__

    version = record.get("format_version")
    if isinstance(version, bool):
        version = None  # JSON's true is no format number (and Python's True == 1)
    if version == 1:
        config = {k: v for k, v in record.get("config", {}).items() if k not in _TRAINER_KEYS_V1}
        record = {**record, "config": config, "format_version": 2}
        version = 2
    if version != FORMAT_VERSION:
        # both values come from the file: shown short, whatever they are
        shown = repr(version) if isinstance(version, int) or version is None else run_check.describe(version)
        made_by = run_check.one_line(record.get("cadenza_version"), 40)
        raise CadenzaError(f"{file}: run format {shown} from Cadenza {made_by}, "
                           f"this is Cadenza {__version__} (format {FORMAT_VERSION}); retrain the model")
    return record
